//! Logging and tracing: one tracing subscriber for a service binary (stderr, and the spans
//! exported over OTLP when configured), one for tests.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{ConfigError, Env};

/// What is logged when `RUST_LOG` says nothing: the service's own information, and only
/// warnings of the SQL driver (which logs every statement at info).
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// The `[telemetry]` table of a service's TOML: where its spans go besides the log. Off by
/// default: no endpoint, no export, no cost.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// OTLP/gRPC collector, `http://HOST:4317`; `OTEL_EXPORTER_OTLP_ENDPOINT` overrides.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans; default the binary's name (`ledgerd`,
    /// `dialerd`); `OTEL_SERVICE_NAME` overrides.
    #[serde(default)]
    pub service_name: Option<String>,
    /// More resource attributes (`deployment.environment = "prod"`, ...); those of
    /// `OTEL_RESOURCE_ATTRIBUTES` are added too.
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
}

impl TelemetrySettings {
    /// Applies the standard OpenTelemetry variables `OTEL_EXPORTER_OTLP_ENDPOINT` and
    /// `OTEL_SERVICE_NAME` (operators and collectors' injectors set these, not ours).
    pub fn apply_env(&mut self, env: &Env<impl Fn(&str) -> Option<String>>) {
        // Set but empty means unset, as the OpenTelemetry SDKs read them.
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty());
        if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.otlp_endpoint = Some(v);
        }
        if let Some(v) = get("OTEL_SERVICE_NAME") {
            self.service_name = Some(v);
        }
    }

    /// The endpoint must be a plain-gRPC URL: the exporter speaks h2c (a collector agent
    /// on the node or a sidecar terminates TLS), so `https://` would fail at run time.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(e) = &self.otlp_endpoint {
            let rest = e.strip_prefix("http://").ok_or_else(|| {
                ConfigError::invalid(
                    "telemetry.otlp_endpoint",
                    format!("want http://HOST:PORT (OTLP over gRPC), got {e:?}"),
                )
            })?;
            if rest.is_empty() || rest.starts_with('/') {
                return Err(ConfigError::invalid(
                    "telemetry.otlp_endpoint",
                    format!("{e:?} names no host"),
                ));
            }
        }
        if matches!(&self.service_name, Some(s) if s.is_empty()) {
            return Err(ConfigError::invalid(
                "telemetry.service_name",
                "must not be empty",
            ));
        }
        Ok(())
    }
}

/// Keeps the span exporter alive; [`Telemetry::shutdown`] sends what is still batched.
#[derive(Debug, Default)]
#[must_use = "dropping it early stops nothing, but shutdown() flushes the last spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still batched (at most a few seconds), then stops the exporter.
    pub async fn shutdown(self) {
        if let Some(p) = self.provider {
            // The provider's shutdown blocks on the batch task, which runs on this runtime.
            let r = tokio::task::spawn_blocking(move || {
                p.shutdown_with_timeout(Duration::from_secs(5))
            })
            .await;
            if let Ok(Err(e)) = r {
                tracing::warn!(error = %e, "span export: shutdown");
            }
        }
    }
}

/// Logs to stderr (stdout carries what scripts read: the addresses, a token), filtered by
/// `RUST_LOG` or [`DEFAULT_FILTER`], in colour only for a person at a terminal, not in
/// collected logs.
pub fn init() {
    tracing_subscriber::registry()
        .with(env_filter())
        .with(fmt_layer())
        .init();
}

/// [`init`], and with an endpoint the same spans (same filter) batched to an OTLP collector
/// on the tokio runtime, as `service.name` = the settings' name or `default_name`. Call it
/// inside the runtime.
pub fn init_service(
    settings: &TelemetrySettings,
    default_name: &str,
) -> Result<Telemetry, ConfigError> {
    settings.validate()?;
    let Some(endpoint) = &settings.otlp_endpoint else {
        init();
        return Ok(Telemetry::default());
    };
    let provider = provider(settings, endpoint, default_name)?;
    let tracer = provider.tracer("collections");
    tracing_subscriber::registry()
        .with(env_filter())
        .with(fmt_layer())
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .init();
    tracing::info!(endpoint = %endpoint, "exporting spans over OTLP");
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// The tracer provider: the tonic OTLP exporter behind a batch processor on tokio.
pub fn provider(
    settings: &TelemetrySettings,
    endpoint: &str,
    default_name: &str,
) -> Result<SdkTracerProvider, ConfigError> {
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ConfigError::invalid("telemetry.otlp_endpoint", e.to_string()))?;
    // The builder's detectors read OTEL_RESOURCE_ATTRIBUTES (and OTEL_SERVICE_NAME, which
    // apply_env already folded into service_name).
    let resource = Resource::builder()
        .with_service_name(
            settings
                .service_name
                .clone()
                .unwrap_or_else(|| default_name.to_owned()),
        )
        .with_attributes(
            settings
                .resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter, Tokio).build())
        .with_resource(resource)
        .build())
}

fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_FILTER.into())
}

fn fmt_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
}

/// Logs through the test harness's capture, warnings unless `RUST_LOG` says otherwise; a
/// second call (another test in the same binary) keeps the first subscriber.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env(move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn off_by_default_and_the_standard_variables_turn_it_on() {
        let mut t = TelemetrySettings::default();
        assert_eq!(t.otlp_endpoint, None);
        t.apply_env(&env(&[]));
        assert_eq!(t.otlp_endpoint, None);
        t.apply_env(&env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_SERVICE_NAME", "ledgerd-eu"),
        ]));
        assert_eq!(t.otlp_endpoint.as_deref(), Some("http://collector:4317"));
        assert_eq!(t.service_name.as_deref(), Some("ledgerd-eu"));
        assert!(t.validate().is_ok());
    }

    #[test]
    fn a_bad_endpoint_is_named() {
        for bad in [
            "collector:4317",
            "https://collector:4317",
            "http://",
            "grpc://x:1",
        ] {
            let t = TelemetrySettings {
                otlp_endpoint: Some(bad.into()),
                ..Default::default()
            };
            assert_eq!(
                t.validate().unwrap_err().field(),
                Some("telemetry.otlp_endpoint"),
                "{bad}"
            );
        }
    }
}
