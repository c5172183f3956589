//! The dialer's client of the ledger: one tonic channel with a bearer token, and the three
//! things the campaign engine asks of the system of record:
//!
//! - [`LedgerLink::load`] ([`AccountSource`]): an account with its recent contacts and
//!   promises, converted with the ledger's own protobuf-to-domain functions into an
//!   [`AccountView`], so the dialer and the ledger cannot drift apart in meaning;
//! - [`LedgerLink::watch`]: the change feed, reconnecting and resuming after the last seq it
//!   delivered, so a campaign hears of holds, consents and new accounts within a second and
//!   never sees a change twice or misses one;
//! - [`LedgerLink::list_accounts`]: account ids by filter, paged, to build a campaign;
//! - `load_many` ([`AccountSource`]): a campaign's accounts a page per round trip
//!   (GetAccountViews), the same views `load` gives one by one.
//!
//! The outbox's relay ([`crate::outbox`]) streams outcomes over the same kind of channel and
//! token ([`lazy_channel`], [`auth::Token`]).

use std::collections::HashMap;
use std::time::Duration;

use auth::{BearerAuth, Token};
use collections_proto::ledger_v1 as pb;
use jiff::{SignedDuration, Timestamp};
use ledger_api::domain::{
    AccountCheck, AccountFilter, Change, MAX_CHECK_ACCOUNTS, ValidationError,
};
use ledger_api::wire as conv;
use pb::ledger_service_client::LedgerServiceClient;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::account::{AccountSource, AccountView, SourceError};

/// Why a call to the ledger failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("ledger address {uri:?}: {reason}")]
    Uri { uri: String, reason: String },
    #[error("cannot connect to the ledger: {0}")]
    Connect(#[from] tonic::transport::Error),
    #[error("ledger answered {:?}: {}", .0.code(), .0.message())]
    Status(Box<Status>),
    #[error("ledger sent an invalid record: {0}")]
    Data(#[from] ValidationError),
    #[error("ledger did not answer within {0:?}")]
    Timeout(Duration),
}

impl From<Status> for LinkError {
    fn from(s: Status) -> Self {
        LinkError::Status(Box::new(s))
    }
}

/// The generated client with the bearer token attached.
pub type LedgerClient = LedgerServiceClient<InterceptedService<Channel, BearerAuth>>;

fn endpoint(uri: &str) -> Result<Endpoint, LinkError> {
    Ok(Endpoint::from_shared(uri.to_owned())
        .map_err(|e| LinkError::Uri {
            uri: uri.to_owned(),
            reason: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        // A ledger that vanished without closing the connection is noticed within ~30 s
        // even on an idle watch or outcome stream.
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true))
}

/// A channel to the ledger at `uri` (`http://host:port`) that connects on first use and
/// reconnects by itself: the dialer starts, and its outbox keeps accepting outcomes, while
/// the ledger is down.
pub fn lazy_channel(uri: &str) -> Result<Channel, LinkError> {
    Ok(endpoint(uri)?.connect_lazy())
}

/// Knobs of the link.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Contacts loaded with an account: since now minus this many days (31 covers every
    /// frequency rule, the longest being a 30-day month).
    pub history_days: u32,
    /// Limit on each load (the dialer fails closed on a timeout).
    pub request_timeout: Duration,
    /// First and largest wait between watch reconnects (doubling in between).
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            history_days: 31,
            request_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// One page of [`LedgerLink::list_accounts`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountPage {
    /// Matching ids in the ledger's id order.
    pub account_ids: Vec<String>,
    /// Pass to the next call; `None` after the last page.
    pub next_page_token: Option<String>,
}

/// The dialer's handle on the ledger; cheap to clone.
#[derive(Debug, Clone)]
pub struct LedgerLink {
    client: LedgerClient,
    channel: Channel,
    opts: LinkOptions,
}

impl LedgerLink {
    /// Connects to `uri` now (fails if the ledger is unreachable).
    pub async fn connect(uri: &str, token: Token) -> Result<Self, LinkError> {
        let channel = endpoint(uri)?.connect().await?;
        Ok(Self::from_channel(channel, token))
    }

    /// A link that connects on first use (see [`lazy_channel`]).
    pub fn connect_lazy(uri: &str, token: Token) -> Result<Self, LinkError> {
        Ok(Self::from_channel(lazy_channel(uri)?, token))
    }

    pub fn from_channel(channel: Channel, token: Token) -> Self {
        Self {
            client: LedgerServiceClient::with_interceptor(channel.clone(), BearerAuth(token))
                .max_decoding_message_size(collections_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(collections_proto::MAX_MESSAGE_BYTES),
            channel,
            opts: LinkOptions::default(),
        }
    }

    pub fn with_options(mut self, opts: LinkOptions) -> Self {
        self.opts = opts;
        self
    }

    /// The underlying channel (e.g. for the outbox relay: one connection to the ledger).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The change feed after `after_seq` (0: from the beginning), following new changes.
    /// Transport failures and ledger restarts are handled inside: the stream reconnects with
    /// capped exponential backoff and resumes after the last seq it delivered, so it never
    /// repeats or skips a change. It yields an error and ends only on what retrying cannot
    /// fix (bad token, role not allowed); a change it cannot convert is yielded as an error
    /// in its place and the stream goes on. Dropping the stream ends the watch.
    pub fn watch(
        &self,
        after_seq: i64,
    ) -> impl Stream<Item = Result<Change, LinkError>> + Send + Unpin + 'static {
        let (tx, rx) = mpsc::channel(256);
        let client = self.client.clone();
        let opts = self.opts.clone();
        tokio::spawn(watch_task(client, opts, after_seq, tx));
        ReceiverStream::new(rx)
    }

    /// One page of the ids of the accounts matching `filter` (`page_size` 0: the ledger's
    /// default of 1,000; at most 10,000), starting at `page_token` (empty: the first page).
    pub async fn list_accounts(
        &self,
        filter: &AccountFilter,
        page_size: u32,
        page_token: &str,
    ) -> Result<AccountPage, LinkError> {
        let mut c = self.client.clone();
        let req = pb::ListAccountsRequest {
            filter: Some(ledger_api::common::account_filter_out(filter.clone())),
            page_size,
            page_token: page_token.to_owned(),
        };
        let r = self.timed(c.list_accounts(req)).await?.into_inner();
        Ok(AccountPage {
            account_ids: r.account_ids,
            next_page_token: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
        })
    }

    /// Asks the ledger for the head of its change feed with this link's token and the
    /// dialer's role: at start, so credentials the ledger refuses stop dialerd at once
    /// instead of being retried forever.
    pub async fn probe(&self) -> Result<i64, LinkError> {
        let mut c = self.client.clone();
        let r = self
            .timed(c.check_accounts(pb::CheckAccountsRequest::default()))
            .await?;
        Ok(r.into_inner().as_of_seq)
    }

    /// `fut` under the request timeout.
    async fn timed<T>(&self, fut: impl Future<Output = Result<T, Status>>) -> Result<T, LinkError> {
        match tokio::time::timeout(self.opts.request_timeout, fut).await {
            Ok(r) => r.map_err(LinkError::from),
            Err(_) => Err(LinkError::Timeout(self.opts.request_timeout)),
        }
    }
}

/// How a load failure reads when the account does not fit in one gRPC message.
pub const TOO_LARGE: &str = "is too large for one gRPC message";

/// NOT_FOUND is the account's absence; anything else (transport, timeout, auth, ledger
/// error) is "unavailable": the dialer fails closed either way. OUT_OF_RANGE is a message
/// over the size limit, which the ledger's bounds make impossible for an account it
/// accepted; said as such, so it is not mistaken for an outage.
fn source_error(account_id: &str, s: &Status) -> SourceError {
    match s.code() {
        Code::NotFound => SourceError::NotFound(account_id.to_owned()),
        Code::OutOfRange => SourceError::Unavailable(format!(
            "account {account_id} {TOO_LARGE} (limit {} bytes): {}",
            collections_proto::MAX_MESSAGE_BYTES,
            s.message()
        )),
        code => SourceError::Unavailable(format!("{code:?}: {}", s.message())),
    }
}

/// Most accounts one GetAccountViews call asks for (the ledger's limit).
pub const VIEWS_PER_CALL: usize = 1000;

impl LedgerLink {
    /// Where the contacts loaded with an account start: `history_days` ago.
    fn history_since(&self) -> Timestamp {
        Timestamp::now()
            .checked_sub(SignedDuration::from_hours(
                i64::from(self.opts.history_days) * 24,
            ))
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// One page (at most [`VIEWS_PER_CALL`] ids) through GetAccountViews, asking again for
    /// what the ledger deferred; results into `got`. `Err` only when the ledger does not
    /// serve the call (an older ledger): the caller loads one by one then.
    async fn views_page(
        &self,
        page: &[String],
        since: Timestamp,
        got: &mut HashMap<String, Result<AccountView, SourceError>>,
    ) -> Result<(), ()> {
        let mut ask: Vec<String> = page.to_vec();
        while !ask.is_empty() {
            let mut c = self.client.clone();
            let req = pb::GetAccountViewsRequest {
                account_ids: ask.clone(),
                since: Some(conv::ts_to(since)),
            };
            let r = match self.timed(c.get_account_views(req)).await {
                Ok(r) => r.into_inner(),
                Err(LinkError::Status(s)) if s.code() == Code::Unimplemented => return Err(()),
                Err(e) => {
                    let err = match e {
                        LinkError::Status(s) => source_error("", &s),
                        e => SourceError::Unavailable(e.to_string()),
                    };
                    for id in ask.drain(..) {
                        got.insert(id, Err(err.clone()));
                    }
                    break;
                }
            };
            for v in r.views {
                let id = v
                    .account
                    .as_ref()
                    .map(|a| a.account_id.clone())
                    .unwrap_or_default();
                got.insert(id, view_from_pb(v, r.as_of_seq));
            }
            for id in r.not_found {
                got.insert(id.clone(), Err(SourceError::NotFound(id)));
            }
            if r.deferred.len() >= ask.len() {
                // No progress: the ledger cannot fit even one; not retried forever.
                for id in r.deferred {
                    got.insert(
                        id,
                        Err(SourceError::Unavailable(format!(
                            "account view {TOO_LARGE}"
                        ))),
                    );
                }
                break;
            }
            ask = r.deferred;
        }
        Ok(())
    }
}

/// One view of GetAccountViews as the dialer's [`AccountView`], at the page's version.
fn view_from_pb(v: pb::AccountView, version: i64) -> Result<AccountView, SourceError> {
    let bad = |e: ValidationError| {
        SourceError::Unavailable(format!("ledger sent an invalid record: {e}"))
    };
    let account = conv::account_from_pb(v.account.unwrap_or_default()).map_err(bad)?;
    let contacts = v
        .contacts
        .into_iter()
        .map(conv::outcome_from_pb)
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    let promises = v
        .promises
        .into_iter()
        .map(conv::promise_from_pb)
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    Ok(AccountView {
        account,
        contacts,
        promises,
        version,
    })
}

impl AccountSource for LedgerLink {
    /// GetAccountViews, a page of [`VIEWS_PER_CALL`] accounts per round trip (a ledger
    /// without it: one [`AccountSource::load`] each).
    async fn load_many(&self, ids: &[String]) -> Vec<Result<AccountView, SourceError>> {
        let since = self.history_since();
        let mut got: HashMap<String, Result<AccountView, SourceError>> =
            HashMap::with_capacity(ids.len());
        for page in ids.chunks(VIEWS_PER_CALL) {
            if self.views_page(page, since, &mut got).await.is_err() {
                for chunk in page.chunks(32) {
                    let loads = crate::account::join_all(chunk.iter().map(|id| self.load(id)));
                    for (id, r) in chunk.iter().zip(loads.await) {
                        got.insert(id.clone(), r);
                    }
                }
            }
        }
        ids.iter()
            .map(|id| {
                got.get(id).cloned().unwrap_or_else(|| {
                    Err(SourceError::Unavailable(format!(
                        "the ledger did not answer for account {id}"
                    )))
                })
            })
            .collect()
    }

    /// The feed's head first (the view's version: every change up to it is in what follows),
    /// then GetAccount, GetContactHistory (the last `history_days`) and ListPromises,
    /// concurrently.
    async fn load(&self, account_id: &str) -> Result<AccountView, SourceError> {
        let version = self.check(&[]).await?.as_of_seq;
        let since = self.history_since();
        let (mut c1, mut c2, mut c3) = (
            self.client.clone(),
            self.client.clone(),
            self.client.clone(),
        );
        let calls = async {
            tokio::try_join!(
                c1.get_account(pb::GetAccountRequest {
                    account_id: account_id.to_owned(),
                }),
                c2.get_contact_history(pb::GetContactHistoryRequest {
                    account_id: account_id.to_owned(),
                    since: Some(conv::ts_to(since)),
                    ..Default::default()
                }),
                c3.list_promises(pb::ListPromisesRequest {
                    account_id: account_id.to_owned(),
                    debt_id: String::new(),
                }),
            )
        };
        let (account, history, promises) = match self.timed(calls).await {
            Ok(r) => r,
            Err(LinkError::Status(s)) => return Err(source_error(account_id, &s)),
            Err(e) => return Err(SourceError::Unavailable(e.to_string())),
        };
        // The same conversion as a page of GetAccountViews.
        view_from_pb(
            pb::AccountView {
                account: Some(account.into_inner()),
                contacts: history.into_inner().contacts,
                promises: promises.into_inner().promises,
            },
            version,
        )
    }

    /// CheckAccounts, in pages of the ledger's limit (an empty ask still learns the head).
    async fn check(&self, accounts: &[(String, i64)]) -> Result<AccountCheck, SourceError> {
        let pages: Vec<&[(String, i64)]> = if accounts.is_empty() {
            vec![&[]]
        } else {
            accounts.chunks(MAX_CHECK_ACCOUNTS).collect()
        };
        let mut out: Option<AccountCheck> = None;
        for page in pages {
            let mut c = self.client.clone();
            let req = pb::CheckAccountsRequest {
                accounts: page
                    .iter()
                    .map(|(id, seq)| pb::AccountCursor {
                        account_id: id.clone(),
                        after_seq: *seq,
                    })
                    .collect(),
            };
            let r = match self.timed(c.check_accounts(req)).await {
                Ok(r) => r.into_inner(),
                Err(LinkError::Status(s)) => return Err(source_error("", &s)),
                Err(e) => return Err(SourceError::Unavailable(e.to_string())),
            };
            let r = conv::check_from_pb(r).map_err(|e| {
                SourceError::Unavailable(format!("ledger sent an invalid check: {e}"))
            })?;
            out = Some(match out {
                None => r,
                // Pages answer at different heads: the lowest one holds for all of them.
                Some(mut o) => {
                    o.as_of_seq = o.as_of_seq.min(r.as_of_seq);
                    o.changes.extend(r.changes);
                    o
                }
            });
        }
        let mut out = out.unwrap_or_default();
        let as_of = out.as_of_seq;
        out.changes.retain(|c| c.seq <= as_of);
        Ok(out)
    }
}

/// Errors retrying cannot fix.
fn permanent(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unauthenticated
            | Code::PermissionDenied
            | Code::InvalidArgument
            | Code::Unimplemented
    )
}

async fn watch_task(
    mut client: LedgerClient,
    opts: LinkOptions,
    mut cursor: i64,
    tx: mpsc::Sender<Result<Change, LinkError>>,
) {
    let mut backoff = opts.backoff_initial;
    loop {
        let opened = tokio::select! {
            r = client.watch_changes(pb::WatchChangesRequest {
                after_seq: cursor,
                account_id: String::new(),
            }) => r,
            _ = tx.closed() => return,
        };
        match opened {
            Err(s) if permanent(&s) => {
                let _ = tx.send(Err(s.into())).await;
                return;
            }
            Err(s) => {
                tracing::warn!(code = ?s.code(), after_seq = cursor, retry_in = ?backoff, "ledger watch failed to open");
            }
            Ok(resp) => {
                let mut stream = resp.into_inner();
                loop {
                    let msg = tokio::select! {
                        m = stream.message() => m,
                        _ = tx.closed() => return,
                    };
                    match msg {
                        Ok(Some(c)) => {
                            backoff = opts.backoff_initial;
                            // The ledger resumes strictly after the cursor; this guards the
                            // promise "never twice" against anything else.
                            if c.seq <= cursor {
                                continue;
                            }
                            cursor = c.seq;
                            let item = conv::change_from_pb(c).map_err(LinkError::from);
                            if tx.send(item).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => {
                            tracing::info!(after_seq = cursor, "ledger ended the watch; resuming");
                            break;
                        }
                        Err(s) if permanent(&s) => {
                            let _ = tx.send(Err(s.into())).await;
                            return;
                        }
                        Err(s) => {
                            tracing::warn!(code = ?s.code(), after_seq = cursor, "ledger watch broke; resuming");
                            break;
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = tx.closed() => return,
        }
        backoff = (backoff * 2).min(opts.backoff_max);
    }
}
