//! `inferledger cluster scheduler|executor`: Apache Ballista's scheduler and executor,
//! embedded, so the processes of a cluster are this binary and know its functions
//! (`session_bucket`, `interaction_start`) by name and decode the plans' priced functions
//! and in-memory tables (`analyze::cluster`). Clients reach the cluster with
//! `sql --cluster df://HOST:PORT`; executors read the tables where the client names them
//! (a folder every machine sees, or object storage).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::object_store::{
    runtime_env_with_s3_support, session_config_with_s3_support, session_state_with_s3_support,
};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use clap::{Args, Subcommand};
use datafusion::execution::FunctionRegistry;

use crate::analyze::cluster::{LogicalCodec, PhysicalCodec};
use crate::common::error::{Error, Result};

/// Options of `cluster`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Which process to run.
    #[command(subcommand)]
    pub role: Role,
}

/// The processes of a cluster.
#[derive(Debug, Clone, Subcommand)]
pub enum Role {
    /// Run a scheduler: executors register with it, clients send it their queries
    /// (`sql --cluster df://HOST:PORT`).
    Scheduler {
        /// Address to listen on (0.0.0.0 for every interface).
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Port to listen on.
        #[arg(long, default_value_t = 50050)]
        port: u16,
    },
    /// Run an executor: it registers with the scheduler and runs the tasks it is given.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Address to listen on (0.0.0.0 for every interface).
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Port other executors fetch this one's shuffle output from (Arrow Flight).
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// Port of the executor's gRPC service.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once (default: the machine's cores).
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// Folder for shuffle files (default: a temporary folder).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
}

impl ClusterArgs {
    /// Runs the process until it is stopped.
    pub async fn run(self) -> Result<()> {
        match self.role {
            Role::Scheduler { bind, port } => run_scheduler(&bind, port).await,
            Role::Executor {
                scheduler,
                bind,
                port,
                grpc_port,
                concurrent_tasks,
                work_dir,
            } => {
                let (scheduler_host, scheduler_port) = scheduler
                    .rsplit_once(':')
                    .and_then(|(host, port)| Some((host.to_string(), port.parse().ok()?)))
                    .ok_or_else(|| {
                        Error::Arguments(format!(
                            "--scheduler {scheduler}: expected HOST:PORT, e.g. 127.0.0.1:50050"
                        ))
                    })?;
                let config = ExecutorProcessConfig {
                    bind_host: bind,
                    port,
                    grpc_port,
                    scheduler_host,
                    scheduler_port,
                    vcores: concurrent_tasks.unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    }),
                    work_dir: work_dir.map(|d| d.to_string_lossy().into_owned()),
                    override_config_producer: Some(Arc::new(session_config_with_s3_support)),
                    override_runtime_producer: Some(Arc::new(runtime_env_with_s3_support)),
                    override_function_registry: Some(Arc::new(function_registry())),
                    override_logical_codec: Some(Arc::new(LogicalCodec::default())),
                    override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
                    // Often enough for the scheduler to see a lost executor within its
                    // EXECUTOR_TIMEOUT_SECONDS (Ballista's default, 60 s, with a 180 s
                    // timeout, left a run waiting minutes on a killed executor).
                    executor_heartbeat_interval_seconds: EXECUTOR_HEARTBEAT_SECONDS,
                    ..ExecutorProcessConfig::default()
                };
                start_executor_process(Arc::new(config))
                    .await
                    .map_err(|e| Error::Cluster(format!("executor: {e}")))
            }
        }
    }
}

/// The functions every process of the cluster knows by name: DataFusion's and the
/// pipeline's own that need no run state (`cost_of` and `cache_read_discount` come with
/// the client's price book in the plan: `analyze::cluster`).
fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    // DataFusion's array functions (`array_to_string`, …), which Ballista's list leaves out.
    for function in datafusion::functions_nested::all_default_nested_functions() {
        for name in
            std::iter::once(function.name()).chain(function.aliases().iter().map(String::as_str))
        {
            registry
                .scalar_functions
                .entry(name.to_string())
                .or_insert_with(|| function.clone());
        }
    }
    let functions = crate::analyze::functions::all();
    for function in functions.scalar {
        registry
            .scalar_functions
            .insert(function.name().to_string(), Arc::new(function));
    }
    for function in functions.aggregate {
        registry
            .aggregate_functions
            .insert(function.name().to_string(), Arc::new(function));
    }
    registry
}

/// How often executors tell the scheduler they are alive.
pub const EXECUTOR_HEARTBEAT_SECONDS: u64 = 5;
/// Without a heartbeat for this long, the scheduler counts an executor lost.
pub const EXECUTOR_TIMEOUT_SECONDS: u64 = 20;
/// How often the scheduler looks for lost executors.
pub const EXPIRY_CHECK_SECONDS: u64 = 5;
/// How long running jobs wait for an executor to come back once the last one is lost.
pub const NO_EXECUTOR_GRACE_SECONDS: u64 = 10;

async fn run_scheduler(bind: &str, port: u16) -> Result<()> {
    let addr: SocketAddr = format!("{bind}:{port}")
        .parse()
        .map_err(|e| Error::Arguments(format!("--bind {bind} --port {port}: {e}")))?;
    let mut config = SchedulerConfig::default()
        .with_hostname(bind)
        .with_port(port)
        .with_override_config_producer(Arc::new(session_config_with_s3_support))
        .with_override_session_builder(Arc::new(|config| {
            let mut state = session_state_with_s3_support(config)?;
            let registry = function_registry();
            for udf in registry.scalar_functions.into_values() {
                state.register_udf(udf)?;
            }
            for udwf in registry.window_functions.into_values() {
                state.register_udwf(udwf)?;
            }
            for udaf in registry.aggregate_functions.into_values() {
                state.register_udaf(udaf)?;
            }
            Ok(state)
        }));
    config.override_logical_codec = Some(Arc::new(LogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(PhysicalCodec::default()));
    // A killed executor is noticed within EXECUTOR_TIMEOUT_SECONDS (checked every
    // EXPIRY_CHECK_SECONDS); when it was the last one, its running jobs fail
    // NO_EXECUTOR_GRACE_SECONDS later (time for one to come back), and the client's run
    // fails with that, publishing nothing. Ballista's defaults (180 s, then as long again)
    // left a run waiting six minutes.
    config.executor_timeout_seconds = EXECUTOR_TIMEOUT_SECONDS;
    config.expire_dead_executor_interval_seconds = EXPIRY_CHECK_SECONDS;
    config.no_executors_grace_period_seconds = NO_EXECUTOR_GRACE_SECONDS;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| Error::Cluster(format!("scheduler: {e}")))?;
    eprintln!("inferledger: scheduler listening on {addr} (clients: --cluster df://{addr})");
    start_server(cluster, addr, Arc::new(config))
        .await
        .map_err(|e| Error::Cluster(format!("scheduler: {e}")))
}
