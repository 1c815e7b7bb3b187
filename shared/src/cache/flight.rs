//! Requests for the same text that miss the cache together share one remote call (a
//! "single flight"): the first one is the [`Lead`] and asks the remote; the others wait
//! for it to land ([`Flight::landed`]) and then find its answer in the process's cache.
//!
//! No timer is needed: the lead's remote call is bounded by its own timeout, and dropping
//! the [`Lead`] (answered, failed, or its request cancelled) lands the flight, so nobody
//! waits past the lead's request. The future works on every executor (tokio natively,
//! the JavaScript event loop on Workers): it is woken by whoever drops the lead.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// One remote call on its way, which later requests for the same key wait for.
#[derive(Debug, Default)]
pub struct Flight {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    landed: bool,
    waiting: Vec<Waker>,
}

impl Flight {
    /// A future that is ready once the flight's lead is dropped.
    pub fn landed(self: &Arc<Self>) -> Landed {
        Landed(Arc::clone(self))
    }

    /// Whether the lead is done.
    pub fn has_landed(&self) -> bool {
        self.state.lock().map_or(true, |state| state.landed)
    }

    fn land(&self) {
        let waiting = match self.state.lock() {
            Ok(mut state) => {
                state.landed = true;
                std::mem::take(&mut state.waiting)
            }
            Err(_) => return,
        };
        for waker in waiting {
            waker.wake();
        }
    }
}

/// The future of [`Flight::landed`].
#[derive(Debug)]
pub struct Landed(Arc<Flight>);

impl Future for Landed {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let Ok(mut state) = self.0.state.lock() else {
            return Poll::Ready(());
        };
        if state.landed {
            return Poll::Ready(());
        }
        if !state.waiting.iter().any(|w| w.will_wake(context.waker())) {
            state.waiting.push(context.waker().clone());
        }
        Poll::Pending
    }
}

/// The flights on their way, by key, shared with their leads.
type Map = Arc<Mutex<HashMap<String, Arc<Flight>>>>;

/// The flights on their way, by key (a probe's text key).
#[derive(Debug, Default)]
pub struct Flights(Map);

/// What a request that missed the cache does about `key`.
#[derive(Debug)]
pub enum Role {
    /// Nobody asks the remote for it yet: this request does, and lands the flight when
    /// the lead is dropped.
    Lead(Lead),
    /// Another request is asking: wait for [`Flight::landed`], then look again.
    Follow(Arc<Flight>),
}

impl Flights {
    /// The role of a request that missed the cache for `key`.
    pub fn join(&self, key: &str) -> Role {
        let Ok(mut flights) = self.0.lock() else {
            // A poisoned map merges nothing: every request asks for itself.
            return Role::Lead(Lead::alone());
        };
        if let Some(flight) = flights.get(key) {
            return Role::Follow(Arc::clone(flight));
        }
        let flight = Arc::new(Flight::default());
        flights.insert(key.to_owned(), Arc::clone(&flight));
        Role::Lead(Lead {
            flights: Some(Arc::clone(&self.0)),
            key: key.to_owned(),
            flight,
        })
    }

    /// How many flights are on their way.
    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |flights| flights.len())
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The request asking the remote for a key. Dropping it (after its answer is kept, or
/// on failure) lands the flight and frees the key.
#[derive(Debug)]
pub struct Lead {
    flights: Option<Map>,
    key: String,
    flight: Arc<Flight>,
}

impl Lead {
    /// A lead that nobody can follow.
    fn alone() -> Lead {
        Lead {
            flights: None,
            key: String::new(),
            flight: Arc::new(Flight::default()),
        }
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        if let Some(flights) = &self.flights {
            if let Ok(mut flights) = flights.lock() {
                if flights
                    .get(&self.key)
                    .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
                {
                    flights.remove(&self.key);
                }
            }
        }
        self.flight.land();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn followers_wait_for_the_lead_and_the_key_is_freed() {
        let flights = Flights::default();
        let Role::Lead(lead) = flights.join("k") else {
            panic!("the first miss leads");
        };
        let Role::Follow(flight) = flights.join("k") else {
            panic!("a second miss for the same key follows");
        };
        assert!(matches!(flights.join("other"), Role::Lead(_)));
        assert_eq!(flights.len(), 1, "the other key's lead was dropped at once");

        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&woken));
        let mut context = Context::from_waker(&waker);
        let mut landed = flight.landed();
        assert!(Pin::new(&mut landed).poll(&mut context).is_pending());
        assert!(Pin::new(&mut landed).poll(&mut context).is_pending());
        drop(lead);
        assert_eq!(woken.0.load(Ordering::SeqCst), 1, "woken once");
        assert!(Pin::new(&mut landed).poll(&mut context).is_ready());
        assert!(flight.has_landed());
        assert!(flights.is_empty());
        assert!(
            matches!(flights.join("k"), Role::Lead(_)),
            "the key is free"
        );
    }
}
