//! The parser a service answers `/v1/parse` and ad-hoc labels with: loaded at start, or by
//! the first request that needs it. Workers load lazily, so that a cold isolate serving
//! only classifications never pays for the embedding model.

use std::fmt;
use std::sync::OnceLock;

use crate::http::problem::Problem;
use crate::parse::Parser;

/// Builds the parser when it is first needed.
type Loader = Box<dyn Fn() -> crate::Result<Parser> + Send + Sync>;

/// A parser, loaded or still to load; a failed load is kept as the problem it answers.
pub(crate) struct ParserSlot {
    loaded: OnceLock<Result<Parser, Problem>>,
    loader: Option<Loader>,
}

impl ParserSlot {
    /// A slot holding `parser` (or why there is none) from the start.
    pub fn ready(parser: Result<Parser, Problem>) -> ParserSlot {
        ParserSlot {
            loaded: OnceLock::from(parser),
            loader: None,
        }
    }

    /// A slot that runs `loader` on first use.
    pub fn lazy(loader: impl Fn() -> crate::Result<Parser> + Send + Sync + 'static) -> ParserSlot {
        ParserSlot {
            loaded: OnceLock::new(),
            loader: Some(Box::new(loader)),
        }
    }

    /// The parser, loading it first if this slot is lazy and nothing has asked yet.
    pub fn get(&self) -> Result<&Parser, &Problem> {
        self.loaded
            .get_or_init(|| match &self.loader {
                Some(load) => load().map_err(|error| Problem::from_error(&error)),
                None => Err(Problem::from_error(&crate::TriageError::Config(
                    "no embedding model was given".into(),
                ))),
            })
            .as_ref()
    }

    /// The parser if it is already loaded; never loads it.
    pub fn peek(&self) -> Option<&Parser> {
        self.loaded.get().and_then(|loaded| loaded.as_ref().ok())
    }

    /// Applies `step` to the parser: now if it is loaded (an error is returned at once),
    /// or after loading if the slot is lazy.
    pub fn then(
        self,
        step: impl Fn(Parser) -> crate::Result<Parser> + Send + Sync + 'static,
    ) -> crate::Result<ParserSlot> {
        match (self.loaded.into_inner(), self.loader) {
            (Some(Ok(parser)), _) => Ok(ParserSlot::ready(Ok(step(parser)?))),
            (Some(Err(problem)), _) => Ok(ParserSlot::ready(Err(problem))),
            (None, Some(load)) => Ok(ParserSlot::lazy(move || step(load()?))),
            (None, None) => Ok(ParserSlot {
                loaded: OnceLock::new(),
                loader: None,
            }),
        }
    }
}

impl fmt::Debug for ParserSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParserSlot")
            .field("loaded", &self.loaded.get())
            .field("lazy", &self.loader.is_some())
            .finish()
    }
}
