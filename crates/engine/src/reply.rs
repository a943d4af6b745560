//! A one-shot answer from the engine to one waiting caller.
//!
//! Blocking callers use [`Ticket::wait`]; async callers (the HTTP API) can `.await` the ticket
//! itself, so the engine needs no async runtime of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

struct Slot<T> {
    value: Option<T>,
    closed: bool,
    waker: Option<Waker>,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

/// The engine's side: answers once. Dropped unanswered (the engine stopped), the ticket
/// resolves to `None`, so no caller ever waits for ever.
pub(crate) struct Replier<T>(Option<Arc<Shared<T>>>);

/// The caller's side.
pub struct Ticket<T>(Arc<Shared<T>>);

pub(crate) fn channel<T>() -> (Replier<T>, Ticket<T>) {
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot {
            value: None,
            closed: false,
            waker: None,
        }),
        ready: Condvar::new(),
    });
    (Replier(Some(shared.clone())), Ticket(shared))
}

impl<T> Replier<T> {
    pub(crate) fn send(mut self, value: T) {
        if let Some(shared) = self.0.take() {
            close(&shared, Some(value));
        }
    }
}

impl<T> Drop for Replier<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            close(&shared, None);
        }
    }
}

fn close<T>(shared: &Shared<T>, value: Option<T>) {
    let waker = {
        let mut slot = shared.slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.value = value;
        slot.closed = true;
        slot.waker.take()
    };
    shared.ready.notify_one();
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<T> Ticket<T> {
    /// Blocks until the engine answers; `None` if it stopped without answering.
    pub fn wait(self) -> Option<T> {
        let mut slot = self.0.slot.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if slot.closed {
                return slot.value.take();
            }
            slot = self.0.ready.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl<T> Future for Ticket<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = self.0.slot.lock().unwrap_or_else(|p| p.into_inner());
        if slot.closed {
            return Poll::Ready(slot.value.take());
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
