//! PostgreSQL over TLS: managed databases (RDS, Cloud SQL, Azure) refuse plaintext, so a
//! service URL with `sslmode=require` (or `verify-full` with `sslrootcert`) must connect
//! encrypted. The build carries rustls for it (sqlx `tls-rustls-ring-native-roots`); without
//! it sqlx refuses such a URL outright. The local test server has `ssl = on` (Debian's
//! default, a self-signed "snakeoil" certificate).

use sqlstore::{Db, Migrations, PoolSize, scratch};

const NONE: Migrations = Migrations::new(&[]);
const SIZE: PoolSize = PoolSize {
    postgres: 1,
    sqlite: 1,
};

fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

fn pg(db: &Db) -> &sqlx::PgPool {
    match db {
        Db::Pg(pool) => pool,
        Db::Sqlite(_) => panic!("a PostgreSQL pool"),
    }
}

/// Whether the session this pool gave is encrypted, by the server's own account.
async fn encrypted(db: &Db) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pg(db))
        .await
        .expect("pg_stat_ssl")
}

#[tokio::test]
async fn sslmode_require_connects_encrypted_and_disable_does_not() {
    let admin = scratch::admin_url();
    let plain = Db::open(&with_query(&admin, "sslmode=disable"), SIZE, &NONE)
        .await
        .expect("plaintext connection");
    let ssl_on: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(pg(&plain))
        .await
        .expect("SHOW ssl");
    assert_eq!(
        ssl_on, "on",
        "the test server must have ssl = on (Debian's default) for this test"
    );
    assert!(!encrypted(&plain).await, "sslmode=disable stays plaintext");
    plain.close().await;

    let tls = Db::open(&with_query(&admin, "sslmode=require"), SIZE, &NONE)
        .await
        .expect("sslmode=require connects (the build has TLS)");
    assert!(encrypted(&tls).await, "sslmode=require is encrypted");
    tls.close().await;
}

#[tokio::test]
async fn verify_full_checks_the_server_certificate() {
    // Debian's snakeoil certificate names `localhost`; asked for 127.0.0.1 with verify-full,
    // the handshake must refuse it (verification is on), not fall back to plaintext or to
    // `require`. (Its root cannot be the thing refused here: /etc/ssl/certs holds the
    // snakeoil certificate itself, and the native roots come from there.)
    let url = with_query(
        &scratch::admin_url().replace("localhost", "127.0.0.1"),
        "sslmode=verify-full",
    );
    let err = Db::open(&url, SIZE, &NONE)
        .await
        .expect_err("a certificate for another name is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("certificate not valid for name"),
        "a certificate error, not another failure: {msg}"
    );
}
