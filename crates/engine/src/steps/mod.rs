//! The registry of step kinds: one file per kind, each a [`StepRunner`] over its plan
//! section, chosen here by the step's kind.

pub(crate) mod approve;
pub(crate) mod check;
mod compose_deploy;
mod compose_retire;
mod compose_up;
mod dns_record;
mod dns_switch;
mod dns_ttl;
mod dns_verify;
mod docker;
mod file_put;
mod files_sync;
mod files_verify;
mod images_copy;
mod in_container;
pub(crate) mod mysql;
mod mysql_copy;
mod mysql_finish;
mod mysql_switch;
mod mysql_sync;
mod mysql_verify;
mod notify;
mod pipe;
pub(crate) mod postgres;
mod postgres_copy;
mod postgres_finish;
pub(crate) mod postgres_switch;
pub(crate) mod postgres_sync;
mod postgres_verify;
mod proxy_kept;
mod proxy_move;
mod proxy_switch;
pub(crate) mod redis;
mod redis_finish;
pub(crate) mod redis_switch;
mod redis_sync;
mod redis_verify;
mod run;
mod soak;
mod store_copy;
pub(crate) mod store_finish;
pub(crate) mod store_switch;
mod store_sync;
mod store_verify;
pub(crate) mod traffic;
mod wait;

use crate::step::StepRunner;
use cutover_plan::StepKind;

/// The runner for a step of kind `kind`.
pub fn runner(kind: &StepKind) -> Box<dyn StepRunner + '_> {
    match kind {
        StepKind::Run(s) => Box::new(run::Run(s)),
        StepKind::Pipe(s) => Box::new(pipe::Pipe(s)),
        StepKind::Approve(s) => Box::new(approve::Approve(s)),
        StepKind::Wait(s) => Box::new(wait::Wait(s)),
        StepKind::Notify(s) => Box::new(notify::Notify(s)),
        StepKind::PostgresSwitch(s) => Box::new(store_switch::StoreSwitch(
            postgres_switch::PostgresSwitch(s),
        )),
        StepKind::PostgresFinish(s) => Box::new(store_finish::StoreFinish(
            postgres_finish::PostgresFinish(s),
        )),
        StepKind::RedisFinish(s) => {
            Box::new(store_finish::StoreFinish(redis_finish::RedisFinish(s)))
        }
        StepKind::MysqlFinish(s) => {
            Box::new(store_finish::StoreFinish(mysql_finish::MysqlFinish(s)))
        }
        StepKind::PostgresSync(s) => {
            Box::new(store_sync::StoreSync(postgres_sync::PostgresSync(s)))
        }
        StepKind::PostgresCopy(s) => {
            Box::new(store_copy::StoreCopy(postgres_copy::PostgresCopy(s)))
        }
        StepKind::PostgresVerify(s) => Box::new(store_verify::StoreVerify(
            postgres_verify::PostgresVerify(s),
        )),
        StepKind::FilesSync(s) => Box::new(files_sync::FilesSync(s)),
        StepKind::FilePut(s) => Box::new(file_put::FilePut(s)),
        StepKind::FilesVerify(s) => Box::new(files_verify::FilesVerify(s)),
        StepKind::Check(s) => Box::new(check::Check(s)),
        StepKind::Soak(s) => Box::new(soak::Soak(s)),
        StepKind::DnsLowerTtl(s) => Box::new(dns_ttl::DnsTtl {
            step: s,
            lower: true,
        }),
        StepKind::DnsRaiseTtl(s) => Box::new(dns_ttl::DnsTtl {
            step: s,
            lower: false,
        }),
        StepKind::DnsSwitch(s) => Box::new(dns_switch::DnsSwitch(s)),
        StepKind::DnsRecord(s) => Box::new(dns_record::DnsRecord(s)),
        StepKind::DnsVerify(s) => Box::new(dns_verify::DnsVerify(s)),
        StepKind::ProxySwitch(s) => Box::new(proxy_switch::ProxySwitch(s)),
        StepKind::MysqlCopy(s) => Box::new(store_copy::StoreCopy(mysql_copy::MysqlCopy(s))),
        StepKind::MysqlSync(s) => Box::new(store_sync::StoreSync(mysql_sync::MysqlSync(s))),
        StepKind::MysqlSwitch(s) => {
            Box::new(store_switch::StoreSwitch(mysql_switch::MysqlSwitch(s)))
        }
        StepKind::MysqlVerify(s) => {
            Box::new(store_verify::StoreVerify(mysql_verify::MysqlVerify(s)))
        }
        StepKind::RedisSwitch(s) => {
            Box::new(store_switch::StoreSwitch(redis_switch::RedisSwitch(s)))
        }
        StepKind::RedisSync(s) => Box::new(store_sync::StoreSync(redis_sync::RedisSync(s))),
        StepKind::RedisVerify(s) => {
            Box::new(store_verify::StoreVerify(redis_verify::RedisVerify(s)))
        }
        StepKind::ImagesCopy(s) => Box::new(images_copy::ImagesCopy(s)),
        StepKind::ComposeUp(s) => Box::new(compose_up::ComposeUp(s)),
        StepKind::ComposeDeploy(s) => Box::new(compose_deploy::ComposeDeploy(s)),
        StepKind::ComposeRetire(s) => Box::new(compose_retire::ComposeRetire(s)),
    }
}

/// Renders `t` for display: secrets masked.
pub(crate) fn show(
    t: &cutover_plan::Template,
    values: &crate::context::Values<'_>,
) -> Result<String, crate::error::EngineError> {
    t.render(values)
        .map_err(|e| crate::error::EngineError::Invalid(e.to_string()))
}

/// `NAME=value` pairs for display, secrets masked.
pub(crate) fn show_env(
    env: &std::collections::BTreeMap<String, cutover_plan::Template>,
    values: &crate::context::Values<'_>,
) -> Result<String, crate::error::EngineError> {
    let mut parts = Vec::new();
    for (k, t) in env {
        let v = if t.uses_secrets() {
            "***".to_string()
        } else {
            show(t, values)?
        };
        parts.push(format!("{k}={}", cutover_exec::quote::quote(&v)));
    }
    Ok(parts.join(" "))
}

/// What `cutover plan` says of an output a step captures.
pub(crate) fn describe_output(name: &str, o: &cutover_plan::steps::Output) -> String {
    let how = match (&o.regex, &o.json) {
        (Some(r), _) => format!("regex `{r}`"),
        (None, Some(j)) => format!("JSON path `{j}`"),
        (None, None) => "nothing".into(),
    };
    let secret = if o.secret { " (secret)" } else { "" };
    format!("captures {name}{secret} by {how}")
}

/// A command's failure, with its standard error framed.
pub(crate) fn describe_failure(out: &cutover_exec::Output) -> String {
    let status = match out.code {
        Some(c) => format!("exit {c}"),
        None => "killed by a signal".into(),
    };
    let text = if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    format!(
        "command failed on {} ({status}):\n{}",
        out.host,
        cutover_exec::frame(text)
    )
}
