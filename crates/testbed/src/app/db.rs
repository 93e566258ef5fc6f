//! The test app's database: an `orders` table behind a fixed-size r2d2 pool, used the way
//! ordinary apps use theirs. Connections are opened once and reused; each is replaced when
//! it breaks or when it is older than the pool's maximum lifetime. Session settings are
//! fixed when a connection opens, so one opened while the database had
//! `default_transaction_read_only = on` keeps refusing writes after it is turned off, until
//! the pool replaces it: the failure a switch has to prevent.

use super::db_config::DbSettings;
use r2d2_postgres::postgres::{self, NoTls};
use r2d2_postgres::r2d2::{self, ManageConnection, Pool};
use r2d2_postgres::PostgresConnectionManager;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a request waits for a pooled connection before it fails.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long `/healthz` waits for one.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

const CREATE_ORDERS: &str = "CREATE TABLE IF NOT EXISTS orders \
     (id bigserial PRIMARY KEY, note text, created timestamptz DEFAULT now())";

/// A database error as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFailure {
    /// The server's message (`cannot execute INSERT in a read-only transaction`), or what
    /// went wrong reaching it.
    pub message: String,
    /// The SQLSTATE when the server answered (`25006` for a read-only transaction).
    pub code: Option<String>,
}

impl From<postgres::Error> for DbFailure {
    fn from(e: postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => DbFailure {
                message: db.message().to_string(),
                code: Some(db.code().code().to_string()),
            },
            None => DbFailure {
                message: e.to_string(),
                code: None,
            },
        }
    }
}

impl From<r2d2::Error> for DbFailure {
    fn from(e: r2d2::Error) -> Self {
        DbFailure {
            message: format!("no database connection within {CHECKOUT_TIMEOUT:?}: {e}"),
            code: None,
        }
    }
}

/// A pooled connection with its age.
pub struct AgedClient {
    client: postgres::Client,
    opened: Instant,
}

/// r2d2_postgres's manager plus the lifetime check at checkout: r2d2's own reaper only
/// looks every 30 s, while apps (Go's database/sql, HikariCP) retire an expired connection
/// when it is next taken.
struct AgedManager {
    inner: PostgresConnectionManager<NoTls>,
    max_lifetime: Duration,
}

/// Why a pooled connection was not handed out.
#[derive(Debug)]
enum Unusable {
    Expired,
    Broken(postgres::Error),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Expired => f.write_str("connection reached its maximum lifetime"),
            Unusable::Broken(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Unusable {}

impl ManageConnection for AgedManager {
    type Connection = AgedClient;
    type Error = Unusable;

    fn connect(&self) -> Result<AgedClient, Unusable> {
        let client = self.inner.connect().map_err(Unusable::Broken)?;
        Ok(AgedClient {
            client,
            opened: Instant::now(),
        })
    }

    fn is_valid(&self, conn: &mut AgedClient) -> Result<(), Unusable> {
        if conn.opened.elapsed() >= self.max_lifetime {
            return Err(Unusable::Expired);
        }
        self.inner
            .is_valid(&mut conn.client)
            .map_err(Unusable::Broken)
    }

    fn has_broken(&self, conn: &mut AgedClient) -> bool {
        conn.client.is_closed()
    }
}

/// The app's database.
pub struct Database {
    pool: Pool<AgedManager>,
    schema_ready: AtomicBool,
    creating_schema: Mutex<()>,
}

impl Database {
    /// A pool for `settings`, connecting in the background: the app starts (and reports
    /// `"db": "fail"`) even while the database is unreachable.
    pub fn open(settings: DbSettings) -> Database {
        let manager = AgedManager {
            inner: PostgresConnectionManager::new(settings.config, NoTls),
            max_lifetime: settings.max_lifetime,
        };
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(settings.pool_size))
            .max_lifetime(Some(settings.max_lifetime))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .test_on_check_out(true)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        Database {
            pool,
            schema_ready: AtomicBool::new(false),
            creating_schema: Mutex::new(()),
        }
    }

    /// Inserts an order; its id once committed.
    pub fn insert_order(&self, note: Option<&str>) -> Result<i64, DbFailure> {
        let mut conn = self.pool.get()?;
        self.ensure_schema(&mut conn.client);
        let row = conn.client.query_one(
            "INSERT INTO orders (note) VALUES ($1) RETURNING id",
            &[&note],
        )?;
        Ok(row.get(0))
    }

    /// Order `id` as a JSON object (`id`, `note`, `created`), if there is one.
    pub fn order(&self, id: i64) -> Result<Option<serde_json::Value>, DbFailure> {
        let mut conn = self.pool.get()?;
        self.ensure_schema(&mut conn.client);
        let row = conn.client.query_opt(
            "SELECT row_to_json(o)::text FROM orders o WHERE id = $1",
            &[&id],
        )?;
        Ok(row.and_then(|r| serde_json::from_str(r.get::<_, &str>(0)).ok()))
    }

    /// Whether the pool hands out a working connection within a second.
    pub fn healthy(&self) -> bool {
        self.pool.get_timeout(HEALTH_TIMEOUT).is_ok()
    }

    /// (open connections, idle ones), for `/healthz`.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// Creates `orders` once per process. A failure is not reported here: a read-only or
    /// unreachable database fails the statement that follows with its own, clearer error.
    fn ensure_schema(&self, client: &mut postgres::Client) {
        if self.schema_ready.load(Ordering::Acquire) {
            return;
        }
        // One at a time: concurrent CREATE TABLE IF NOT EXISTS can still collide.
        let _one = self.creating_schema.lock();
        if !self.schema_ready.load(Ordering::Acquire) && client.batch_execute(CREATE_ORDERS).is_ok()
        {
            self.schema_ready.store(true, Ordering::Release);
        }
    }
}
