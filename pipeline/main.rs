//! The `inferledger` binary: parses flags, runs the library, maps errors to exit codes
//! (1: error; 2: too many bad rows, nothing written; 64: wrong arguments) and prints the
//! whole cause chain.

use std::process::ExitCode;

use clap::Parser;
use inferledger::commands::Cli;

/// mimalloc, as datafusion-cli uses: the pipeline allocates many small strings and
/// batches from several threads. On the 1M-request bench (one noisy comparison) runs took
/// 4.7–5.4 s against 5.6 s with the system allocator, where malloc and free were 11% of
/// the samples.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stack of the command thread and the runtime's workers.
const STACK_BYTES: usize = 256 * 1024 * 1024;

/// Exit code for arguments that cannot be used (BSD's EX_USAGE), distinct from 2.
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    // Output piped into `head` and the like: end quietly when the reader goes away, as
    // Unix tools do, instead of printing "Broken pipe" (Rust ignores SIGPIPE by default).
    // Not for the processes of a cluster, which write to sockets their peers may close.
    #[cfg(unix)]
    if std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .as_deref()
        != Some("cluster")
    {
        // SAFETY: restoring the default action of one signal, before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // No transparent huge pages: mimalloc asks for them, and every 2 MiB page the kernel
    // then zeroes on first touch (the Parquet writers' short-lived compression buffers
    // touch many) cost the 1M-request bench about a second of system time.
    #[cfg(target_os = "linux")]
    // SAFETY: a process-wide flag that changes how pages are backed, not what they hold.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // What Ballista's scheduler, executors and client log, shown with RUST_LOG=info (as
    // Ballista's own binaries do).
    #[cfg(feature = "cluster")]
    if std::env::var_os("RUST_LOG").is_some() {
        env_logger::init();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    // Planning a deep query (thousands of UNION ALLs) recurses deeply: give the command and
    // the workers large stacks (address space, not memory, until used).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STACK_BYTES)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = std::thread::Builder::new()
        .name("inferledger".to_string())
        .stack_size(STACK_BYTES)
        .spawn(move || runtime.block_on(cli.run()))
        .map(|thread| thread.join());
    let result = match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => {
            eprintln!("error: the command panicked (a bug: please report it)");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: cannot start the command thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut message = format!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                // Wrapped errors often repeat their cause's text: say each thing once.
                let text = cause.to_string();
                if !message.contains(&text) {
                    message.push_str(&format!("\n  caused by: {text}"));
                }
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::from(error.exit_code())
        }
    }
}
