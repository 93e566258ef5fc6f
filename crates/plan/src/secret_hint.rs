//! What to write instead of a secret on a command line: each common client's own way to take
//! a password that `ps` cannot show (an environment variable it reads, standard input), so
//! the hint never suggests `mysql -p"$PW"`, which puts the password back on the command line.

/// Clients that read their password from an environment variable of their own.
const ENV_CLIENTS: &[(&[&str], &str)] = &[
    (
        &[
            "psql",
            "pg_dump",
            "pg_dumpall",
            "pg_restore",
            "pgbench",
            "pg_basebackup",
            "pg_isready",
            "createdb",
            "dropdb",
            "vacuumdb",
            "pgcopydb",
        ],
        "PGPASSWORD",
    ),
    (
        &[
            "mysql",
            "mariadb",
            "mysqldump",
            "mariadb-dump",
            "mysqladmin",
            "mariadb-admin",
            "mysqlcheck",
            "mariadb-check",
        ],
        "MYSQL_PWD",
    ),
    (&["redis-cli", "valkey-cli"], "REDISCLI_AUTH"),
];

/// Clients that take a password on standard input with `--password-stdin`.
const STDIN_CLIENTS: &[&str] = &["docker", "podman", "helm", "nerdctl"];

/// The hint for secret `name` written into `command`: the safe way of the first client the
/// command runs that cutover knows, else the environment in general.
pub fn hint(command: &str, name: &str) -> String {
    let secret = format!("\"{{{{ secrets.{name} }}}}\"");
    let programs = command
        .split(|c: char| c.is_whitespace() || ";|&()`".contains(c))
        .map(|word| word.rsplit('/').next().unwrap_or(word));
    for program in programs {
        if let Some((_, var)) = ENV_CLIENTS
            .iter()
            .find(|(names, _)| names.contains(&program))
        {
            return format!(
                "`{program}` reads its password from ${var}: set `env = {{ {var} = {secret} }}` and leave it off the command line (an argument such as -p\"${var}\" is as visible in `ps`)"
            );
        }
        if STDIN_CLIENTS.contains(&program) {
            let var = env_name(name);
            return format!(
                "pass it through the environment and into `{program}` on standard input: `env = {{ {var} = {secret} }}` and `printf '%s' \"${var}\" | {program} login --password-stdin ...` (printf is a shell builtin: no command line shows it)"
            );
        }
    }
    let var = env_name(name);
    format!(
        "pass it through the environment: `env = {{ {var} = {secret} }}`, for a program that reads ${var} itself or from standard input (`printf '%s' \"${var}\" | PROGRAM`); an argument such as --password=\"${var}\" is as visible in `ps`"
    )
}

/// The environment variable a secret is passed in by default: its name in capitals.
fn env_name(secret: &str) -> String {
    secret.to_uppercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn the_client_run_decides_the_hint() {
        assert!(
            hint("cd /srv && /usr/bin/mysql -p{{ secrets.db }} app", "db")
                .starts_with("`mysql` reads its password from $MYSQL_PWD")
        );
        assert!(hint("pg_dump -Fc app | gzip", "db")
            .starts_with("`pg_dump` reads its password from $PGPASSWORD"));
        assert!(
            hint("docker login -p x r.example", "reg").contains("| docker login --password-stdin")
        );
        assert!(hint("./deploy.sh --token x", "api-token").contains("`env = { API_TOKEN = "));
    }
}
