//! Channel filters (`spec/grip.md` §8; 1.36 `src/handler/filter.cpp`,
//! `filterstack.cpp`, `idformat.cpp`).
//!
//! A subscription names filters per channel (`Grip-Channel: c; filter=x`,
//! JSON `filters`, WebSocket `subscribe`). Delivery filters (`skip-self`,
//! `skip-users`, `require-sub`) decide whether an item reaches the
//! subscriber at all; content filters (`var-subst`, `build-id`) rewrite the
//! message content, and `build-id` also the proxied content (the instruct's
//! initial body and next-link bodies, §5.4). Their inputs are a
//! [`Context`]: the session's channels and prev-ids, the subscription meta
//! and the publish meta.
//!
//! [`FilterStack`] runs a channel's filters in order with 1.36's
//! `update`/`finalize` semantics; its errors display as 1.36 shows them after
//! `filter error: ` (`var-subst: No such variable 'x' at position 3`).
//! Unknown filter names are ignored, as in 1.36.

mod format;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub use format::{DirectiveError, FormatError};
use format::{Directives, Mode};

/// The five filters of 1.36.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// Drop items whose publish meta `sender` is the subscriber's `user`.
    SkipSelf,
    /// Drop items whose publish meta `skip_users` lists the subscriber's `user`.
    SkipUsers,
    /// Drop items whose publish meta `require_sub` names a channel the
    /// session is not on.
    RequireSub,
    /// Replace `%I` with an id built from the subscription meta `id_format`.
    BuildId,
    /// Replace `%(name)s` with the subscription meta `name`.
    VarSubst,
}

/// What a filter applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Targets {
    /// Decides whether an item is delivered.
    pub delivery: bool,
    /// Rewrites published content.
    pub message_content: bool,
    /// Rewrites proxied content (initial body, next-link bodies).
    pub proxy_content: bool,
}

/// A filter name 1.36 does not know (such names are ignored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown filter {0:?}")]
pub struct UnknownFilter(pub String);

impl Filter {
    /// Every filter, in 1.36's `Filter::names()` order.
    pub const ALL: [Self; 5] = [
        Self::SkipSelf,
        Self::SkipUsers,
        Self::RequireSub,
        Self::BuildId,
        Self::VarSubst,
    ];

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SkipSelf => "skip-self",
            Self::SkipUsers => "skip-users",
            Self::RequireSub => "require-sub",
            Self::BuildId => "build-id",
            Self::VarSubst => "var-subst",
        }
    }

    /// What the filter applies to.
    pub const fn targets(self) -> Targets {
        match self {
            Self::SkipSelf | Self::SkipUsers | Self::RequireSub => Targets {
                delivery: true,
                message_content: false,
                proxy_content: false,
            },
            Self::BuildId => Targets {
                delivery: false,
                message_content: true,
                proxy_content: true,
            },
            Self::VarSubst => Targets {
                delivery: false,
                message_content: true,
                proxy_content: false,
            },
        }
    }
}

impl FromStr for Filter {
    type Err = UnknownFilter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFilter(s.to_owned()))
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn targets_of(name: &str) -> Targets {
    name.parse::<Filter>()
        .map(Filter::targets)
        .unwrap_or_default()
}

/// The names among a channel's filters that target message content, in
/// order (what a format's `content-filters` must equal).
pub fn message_content_filters<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    names
        .iter()
        .map(AsRef::as_ref)
        .filter(|n| targets_of(n).message_content)
        .map(str::to_owned)
        .collect()
}

/// The union, in first-seen order, of the proxy-content filters of all of a
/// session's channels (applied to the initial body and next-link bodies).
pub fn proxy_content_filters<'a, S: AsRef<str> + 'a>(
    channels: impl IntoIterator<Item = &'a [S]>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in channels.into_iter().flatten().map(AsRef::as_ref) {
        if targets_of(name).proxy_content && !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    }
    out
}

/// A format's `content-filters` differ from the subscription's content
/// filters (`spec/grip.md` §8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("content filter mismatch: subscription={} message={}", .subscription.join(","), .message.join(","))]
pub struct ContentFilterMismatch {
    /// The subscription's content filters.
    pub subscription: Vec<String>,
    /// The format's `content-filters`.
    pub message: Vec<String>,
}

/// Checks a format's `content-filters` (if any) against the channel's
/// filters.
pub fn check_content_filters<S: AsRef<str>>(
    channel_filters: &[S],
    message: Option<&[String]>,
) -> Result<(), ContentFilterMismatch> {
    let Some(message) = message else {
        return Ok(());
    };
    let subscription = message_content_filters(channel_filters);
    if subscription == message {
        Ok(())
    } else {
        Err(ContentFilterMismatch {
            subscription,
            message: message.to_vec(),
        })
    }
}

const EMPTY_META: &BTreeMap<String, String> = &BTreeMap::new();
const EMPTY_IDS: &BTreeMap<String, Option<String>> = &BTreeMap::new();

/// What filters look at.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The session's channels with their current prev-ids (`None`: the
    /// channel has none). 1.36 keys them by the instruct's channel name,
    /// without the route prefix; it is empty for WebSocket sessions and for
    /// proxied content.
    pub prev_ids: &'a BTreeMap<String, Option<String>>,
    /// The subscription meta.
    pub sub_meta: &'a BTreeMap<String, String>,
    /// The publish meta.
    pub pub_meta: &'a BTreeMap<String, String>,
}

impl Default for Context<'_> {
    fn default() -> Self {
        Self {
            prev_ids: EMPTY_IDS,
            sub_meta: EMPTY_META,
            pub_meta: EMPTY_META,
        }
    }
}

impl<'a> Context<'a> {
    /// The context of proxied content: subscription meta only.
    pub fn proxy(sub_meta: &'a BTreeMap<String, String>) -> Self {
        Self {
            sub_meta,
            ..Self::default()
        }
    }
}

/// A filter failed; displays as `<filter>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{filter}: {kind}")]
pub struct Error {
    /// The failing filter.
    pub filter: Filter,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong in a filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The content has a bad directive.
    #[error(transparent)]
    Format(FormatError),
    /// `build-id` without subscription meta `id_format`.
    #[error("no sub meta 'id_format'")]
    NoIdFormat,
    /// `build-id`: `id_format` did not render.
    #[error("failed to render ID: {0}")]
    RenderId(FormatError),
    /// `build-id`: `id_encoding` other than `hex`.
    #[error("unsupported encoding: {0}")]
    UnsupportedEncoding(String),
}

fn lookup<'v>(
    vars: impl Fn(&str) -> Option<&'v str>,
    directive: u8,
    arg: Option<&[u8]>,
) -> Result<Vec<u8>, DirectiveError> {
    if directive != b's' {
        return Err(DirectiveError::Unknown(directive));
    }
    let arg = arg.ok_or(DirectiveError::RequiresArgument)?;
    let name = String::from_utf8_lossy(arg);
    vars(&name)
        .map(|v| v.as_bytes().to_vec())
        .ok_or_else(|| DirectiveError::NoSuchVariable(name.into_owned()))
}

/// `%(name)s` from the subscription meta.
struct MetaVars<'a>(&'a BTreeMap<String, String>);

impl Directives for MetaVars<'_> {
    fn render(&self, directive: u8, arg: Option<&[u8]>) -> Result<Vec<u8>, DirectiveError> {
        lookup(|n| self.0.get(n).map(String::as_str), directive, arg)
    }
}

/// `%(channel)s` from the prev-ids (a channel without one is "no such
/// variable", as 1.36's null value is).
struct IdVars<'a>(&'a BTreeMap<String, Option<String>>);

impl Directives for IdVars<'_> {
    fn render(&self, directive: u8, arg: Option<&[u8]>) -> Result<Vec<u8>, DirectiveError> {
        lookup(|n| self.0.get(n)?.as_deref(), directive, arg)
    }
}

/// `%I` / `%(literal)I` in content.
struct IdContent<'a> {
    default_id: Option<&'a [u8]>,
    hex: bool,
}

impl Directives for IdContent<'_> {
    fn render(&self, directive: u8, arg: Option<&[u8]>) -> Result<Vec<u8>, DirectiveError> {
        if directive != b'I' {
            return Err(DirectiveError::Unknown(directive));
        }
        let id = arg.or(self.default_id).ok_or(DirectiveError::NoDefaultId)?;
        if self.hex {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut out = Vec::with_capacity(id.len().saturating_mul(2));
            for b in id {
                for nibble in [b >> 4, b & 0xf] {
                    out.extend(HEX.get(usize::from(nibble)));
                }
            }
            Ok(out)
        } else {
            Ok(id.to_vec())
        }
    }
}

/// `build-id`'s renderer: keeps an incomplete trailing directive for the
/// next chunk (1.36 `IdFormat::ContentRenderer`).
#[derive(Debug)]
struct IdRenderer {
    default_id: Option<Vec<u8>>,
    hex: bool,
    buf: Vec<u8>,
}

impl IdRenderer {
    fn new(ctx: &Context<'_>) -> Result<Self, ErrorKind> {
        let id_format = ctx.sub_meta.get("id_format").ok_or(ErrorKind::NoIdFormat)?;
        let default_id = if ctx.prev_ids.is_empty() {
            None
        } else {
            let r = format::process(id_format.as_bytes(), &IdVars(ctx.prev_ids), Mode::Strict)
                .map_err(ErrorKind::RenderId)?;
            Some(r.out)
        };
        let hex = match ctx.sub_meta.get("id_encoding").map(String::as_str) {
            None => false,
            Some("hex") => true,
            Some(other) => return Err(ErrorKind::UnsupportedEncoding(other.to_owned())),
        };
        Ok(Self {
            default_id,
            hex,
            buf: Vec::new(),
        })
    }

    fn handler(&self) -> IdContent<'_> {
        IdContent {
            default_id: self.default_id.as_deref(),
            hex: self.hex,
        }
    }

    fn update(&mut self, data: &[u8]) -> Result<Vec<u8>, FormatError> {
        self.buf.extend_from_slice(data);
        let r = format::process(&self.buf, &self.handler(), Mode::Partial)?;
        self.buf.drain(..r.consumed.min(self.buf.len()));
        Ok(r.out)
    }

    fn finalize(&mut self) -> Result<Vec<u8>, FormatError> {
        let rest = std::mem::take(&mut self.buf);
        format::process(&rest, &self.handler(), Mode::Strict).map(|r| r.out)
    }
}

#[derive(Debug)]
enum Stage {
    Delivery(Filter),
    VarSubst,
    BuildId(Option<IdRenderer>),
}

impl Stage {
    const fn filter(&self) -> Filter {
        match self {
            Self::Delivery(f) => *f,
            Self::VarSubst => Filter::VarSubst,
            Self::BuildId(_) => Filter::BuildId,
        }
    }
}

/// One channel's filters, run in order over one message or one proxied body
/// (1.36 `FilterStack`).
#[derive(Debug)]
pub struct FilterStack<'a> {
    ctx: Context<'a>,
    stages: Vec<Stage>,
}

impl<'a> FilterStack<'a> {
    /// The filters called `names` (unknown names are skipped).
    pub fn new<S: AsRef<str>>(names: &[S], ctx: Context<'a>) -> Self {
        let stages = names
            .iter()
            .filter_map(|n| n.as_ref().parse::<Filter>().ok())
            .map(|f| match f {
                Filter::VarSubst => Stage::VarSubst,
                Filter::BuildId => Stage::BuildId(None),
                other => Stage::Delivery(other),
            })
            .collect();
        Self { ctx, stages }
    }

    /// Whether no filter would do anything (no known names).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Whether a filter changes content (`var-subst`, `build-id`); without one,
    /// [`Self::process`] returns its input unchanged and callers may skip it.
    pub fn rewrites(&self) -> bool {
        self.stages
            .iter()
            .any(|s| matches!(s, Stage::VarSubst | Stage::BuildId(_)))
    }

    /// Whether a delivery filter drops the item.
    pub fn drops(&self) -> bool {
        self.stages.iter().any(|s| match s {
            Stage::Delivery(f) => drops(*f, &self.ctx),
            Stage::VarSubst | Stage::BuildId(_) => false,
        })
    }

    fn update_stage(ctx: &Context<'_>, stage: &mut Stage, data: &[u8]) -> Result<Vec<u8>, Error> {
        let filter = stage.filter();
        let err = |kind| Error { filter, kind };
        match stage {
            Stage::Delivery(_) => Ok(data.to_vec()),
            Stage::VarSubst => format::process(data, &MetaVars(ctx.sub_meta), Mode::Strict)
                .map(|r| r.out)
                .map_err(|e| err(ErrorKind::Format(e))),
            Stage::BuildId(r) => {
                let r = ensure_renderer(ctx, r).map_err(err)?;
                r.update(data).map_err(|e| err(ErrorKind::Format(e)))
            }
        }
    }

    fn finalize_stage(ctx: &Context<'_>, stage: &mut Stage) -> Result<Vec<u8>, Error> {
        let filter = stage.filter();
        let err = |kind| Error { filter, kind };
        match stage {
            Stage::Delivery(_) | Stage::VarSubst => Ok(Vec::new()),
            Stage::BuildId(r) => {
                let r = ensure_renderer(ctx, r).map_err(err)?;
                r.finalize().map_err(|e| err(ErrorKind::Format(e)))
            }
        }
    }

    /// Passes a chunk through every filter.
    pub fn update(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let mut buf = data.to_vec();
        for stage in &mut self.stages {
            buf = Self::update_stage(&self.ctx, stage, &buf)?;
        }
        Ok(buf)
    }

    /// Flushes what the filters held back (each filter's leftovers go
    /// through the filters after it).
    pub fn finalize(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        for stage in &mut self.stages {
            if !out.is_empty() {
                out = Self::update_stage(&self.ctx, stage, &out)?;
            }
            out.extend(Self::finalize_stage(&self.ctx, stage)?);
        }
        Ok(out)
    }

    /// A whole message: [`Self::update`] then [`Self::finalize`].
    pub fn process(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = self.update(data)?;
        out.extend(self.finalize()?);
        Ok(out)
    }
}

fn ensure_renderer<'r>(
    ctx: &Context<'_>,
    r: &'r mut Option<IdRenderer>,
) -> Result<&'r mut IdRenderer, ErrorKind> {
    let renderer = match r.take() {
        Some(renderer) => renderer,
        None => IdRenderer::new(ctx)?,
    };
    Ok(r.insert(renderer))
}

fn non_empty<'m>(meta: &'m BTreeMap<String, String>, key: &str) -> Option<&'m str> {
    meta.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// Whether delivery filter `f` drops an item.
fn drops(f: Filter, ctx: &Context<'_>) -> bool {
    match f {
        Filter::SkipSelf => {
            let user = non_empty(ctx.sub_meta, "user");
            user.is_some() && user == non_empty(ctx.pub_meta, "sender")
        }
        Filter::SkipUsers => non_empty(ctx.sub_meta, "user").is_some_and(|user| {
            ctx.pub_meta
                .get("skip_users")
                .is_some_and(|list| list.split(',').any(|u| u.trim() == user))
        }),
        Filter::RequireSub => non_empty(ctx.pub_meta, "require_sub")
            .is_some_and(|channel| !ctx.prev_ids.contains_key(channel)),
        Filter::BuildId | Filter::VarSubst => false,
    }
}

#[cfg(test)]
mod tests;
