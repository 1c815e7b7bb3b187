//! A model a service answers with: loaded at start, or by the first request that needs
//! it. Workers load lazily, so that a cold isolate pays only for the models it serves.

use std::fmt;
use std::sync::OnceLock;

use crate::http::problem::Problem;

/// Builds the value when it is first needed.
type Loader<T> = Box<dyn Fn() -> crate::Result<T> + Send + Sync>;

/// Finishes a value the adapter hands over ([`Slot::fill`]): steps given with
/// [`Slot::then`] while the slot was pending.
type Prepare<T> = Box<dyn Fn(T) -> crate::Result<T> + Send + Sync>;

/// A value, loaded or still to load; a failed load is kept as the problem it answers
/// (so a broken bundle is reported, not reloaded, on every request). A slot with no
/// loader that is not filled yet is *pending*: the adapter fetches the bundle and fills
/// it ([`Slot::fill`]); until then it answers `pending`.
pub(crate) struct Slot<T> {
    loaded: OnceLock<Result<T, Problem>>,
    loader: Option<Loader<T>>,
    pending: Option<Problem>,
    prepare: Option<Prepare<T>>,
}

impl<T> Slot<T> {
    /// A slot holding `value` (or why there is none) from the start.
    pub fn ready(value: Result<T, Problem>) -> Slot<T> {
        Slot {
            loaded: OnceLock::from(value),
            loader: None,
            pending: None,
            prepare: None,
        }
    }

    /// A slot the adapter fills with [`Slot::fill`] when a request first needs it;
    /// `pending` is the answer until then.
    pub fn pending(pending: Problem) -> Slot<T> {
        Slot {
            loaded: OnceLock::new(),
            loader: None,
            pending: Some(pending),
            prepare: None,
        }
    }

    /// Whether the slot waits for [`Slot::fill`].
    pub fn is_pending(&self) -> bool {
        self.pending.is_some() && !self.is_settled()
    }

    /// Fills a slot with what the adapter loaded, finished by the steps [`Slot::then`]
    /// gave while it was pending, which must pass `check` (as in [`Slot::get`]); a slot
    /// already settled keeps what it has.
    pub fn fill(&self, value: crate::Result<T>, check: impl FnOnce(&T) -> crate::Result<()>) {
        self.loaded.get_or_init(|| {
            value
                .and_then(|value| match &self.prepare {
                    Some(prepare) => prepare(value),
                    None => Ok(value),
                })
                .and_then(|value| check(&value).map(|()| value))
                .map_err(|error| Problem::from_error(&error))
        });
    }

    /// A slot that runs `loader` on first use.
    pub fn lazy(loader: impl Fn() -> crate::Result<T> + Send + Sync + 'static) -> Slot<T> {
        Slot {
            loaded: OnceLock::new(),
            loader: Some(Box::new(loader)),
            pending: None,
            prepare: None,
        }
    }

    /// The value, loading it first if this slot is lazy and nothing has asked yet; a
    /// fresh load must pass `check` (the memory budget beside what is already loaded)
    /// or the slot keeps the check's error.
    pub fn get(&self, check: impl FnOnce(&T) -> crate::Result<()>) -> Result<&T, &Problem> {
        if let (None, Some(pending)) = (self.loaded.get(), &self.pending) {
            return Err(pending);
        }
        self.loaded
            .get_or_init(|| {
                let loaded = match &self.loader {
                    Some(load) => load(),
                    None => Err(crate::TriageError::Config("nothing to load".into())),
                };
                loaded
                    .and_then(|value| check(&value).map(|()| value))
                    .map_err(|error| Problem::from_error(&error))
            })
            .as_ref()
    }

    /// The value if it is already loaded; never loads it.
    pub fn peek(&self) -> Option<&T> {
        self.loaded.get().and_then(|loaded| loaded.as_ref().ok())
    }

    /// Whether the slot has been loaded (or failed to).
    pub fn is_settled(&self) -> bool {
        self.loaded.get().is_some()
    }
}

#[cfg(feature = "parse")]
impl<T: 'static> Slot<T> {
    /// Applies `step` to the value: now if it is loaded (an error is returned at once),
    /// after loading if the slot is lazy, or when the adapter fills it if it is pending.
    pub fn then(
        self,
        step: impl Fn(T) -> crate::Result<T> + Send + Sync + 'static,
    ) -> crate::Result<Slot<T>> {
        match (self.loaded.into_inner(), self.loader) {
            (Some(Ok(value)), _) => Ok(Slot::ready(Ok(step(value)?))),
            (Some(Err(problem)), _) => Ok(Slot::ready(Err(problem))),
            (None, Some(load)) => Ok(Slot::lazy(move || step(load()?))),
            (None, None) => {
                let prepare: Prepare<T> = match self.prepare {
                    Some(first) => Box::new(move |value| step(first(value)?)),
                    None => Box::new(step),
                };
                Ok(Slot {
                    loaded: OnceLock::new(),
                    loader: None,
                    pending: self.pending,
                    prepare: Some(prepare),
                })
            }
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("loaded", &self.loaded.get())
            .field("lazy", &self.loader.is_some())
            .field("pending", &self.pending.is_some())
            .finish()
    }
}
