//! The bounded hand-off between a stream's reader task and its consumer: one producer,
//! one consumer, a lock around a small ring. tokio's mpsc allocates 32 slots and
//! cache-padded counters for every channel whatever its bound (~1.6 KB); this one holds
//! its bound in messages and a few words (memory per open stream, issue 11).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

/// A channel holding at most `capacity` messages (at least one).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Mutex::new(State {
        queue: VecDeque::new(),
        capacity,
        sender_alive: true,
        receiver_alive: true,
        sender_waker: None,
        receiver_waker: None,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    sender_alive: bool,
    receiver_alive: bool,
    /// The sender waiting for room, if it is.
    sender_waker: Option<Waker>,
    /// The receiver waiting for a message, if it is.
    receiver_waker: Option<Waker>,
}

type Shared<T> = Arc<Mutex<State<T>>>;

fn lock<T>(shared: &Shared<T>) -> MutexGuard<'_, State<T>> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn store(slot: &mut Option<Waker>, waker: &Waker) {
    if !slot.as_ref().is_some_and(|stored| stored.will_wake(waker)) {
        *slot = Some(waker.clone());
    }
}

pub struct Sender<T> {
    shared: Shared<T>,
}

impl<T> Sender<T> {
    /// Send `value`, waiting for room; `Err(value)` once the receiver is gone.
    pub async fn send(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        poll_fn(|cx| {
            let mut state = lock(&self.shared);
            let Some(message) = value.take() else {
                return Poll::Ready(Ok(())); // cannot happen: polled again after Ready
            };
            if !state.receiver_alive {
                return Poll::Ready(Err(message));
            }
            if state.queue.len() >= state.capacity {
                value = Some(message);
                store(&mut state.sender_waker, cx.waker());
                return Poll::Pending;
            }
            state.queue.push_back(message);
            let waiting = state.receiver_waker.take();
            drop(state);
            if let Some(receiver) = waiting {
                receiver.wake();
            }
            Poll::Ready(Ok(()))
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waiting = {
            let mut state = lock(&self.shared);
            state.sender_alive = false;
            state.receiver_waker.take()
        };
        if let Some(receiver) = waiting {
            receiver.wake();
        }
    }
}

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing yet; the sender may send more.
    Empty,
    /// Nothing left, and the sender is gone.
    Disconnected,
}

pub struct Receiver<T> {
    shared: Shared<T>,
}

impl<T> Receiver<T> {
    /// The next message, waiting for it; `None` once the sender is gone and every
    /// message was taken.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut state = lock(&self.shared);
            match Self::take(&mut state) {
                Ok(message) => Poll::Ready(Some(message)),
                Err(TryRecvError::Disconnected) => Poll::Ready(None),
                Err(TryRecvError::Empty) => {
                    store(&mut state.receiver_waker, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Whether a message (or the sender's end) is there to take; if not, `waker` is woken
    /// when one is. A consumer outside any task waits this way (see `bindings::stream`).
    pub fn ready_or_register(&mut self, waker: &Waker) -> bool {
        let mut state = lock(&self.shared);
        if !state.queue.is_empty() || !state.sender_alive {
            return true;
        }
        store(&mut state.receiver_waker, waker);
        false
    }

    /// The next message if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        Self::take(&mut lock(&self.shared))
    }

    /// Take the next message under the lock; a sender waiting for room may go on.
    fn take(state: &mut State<T>) -> Result<T, TryRecvError> {
        match state.queue.pop_front() {
            Some(message) => {
                if let Some(sender) = state.sender_waker.take() {
                    sender.wake();
                }
                Ok(message)
            }
            None if state.sender_alive => Err(TryRecvError::Empty),
            None => Err(TryRecvError::Disconnected),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (queue, waiting) = {
            let mut state = lock(&self.shared);
            state.receiver_alive = false;
            (std::mem::take(&mut state.queue), state.sender_waker.take())
        };
        drop(queue); // outside the lock: messages may be large
        if let Some(sender) = waiting {
            sender.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_in_order_then_reports_the_senders_end() {
        let (sender, mut receiver) = channel(2);
        let producer = async move {
            for n in 0..100 {
                assert!(sender.send(n).await.is_ok());
            }
        };
        let consumer = async {
            for n in 0..100 {
                assert_eq!(receiver.recv().await, Some(n));
            }
        };
        tokio::join!(producer, consumer);
        assert_eq!(receiver.recv().await, None);
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[tokio::test]
    async fn a_full_channel_waits_for_room() {
        let (sender, mut receiver) = channel(1);
        assert!(sender.send(1).await.is_ok());
        let mut second = Box::pin(sender.send(2));
        assert!(poll_once(second.as_mut()).await.is_none());
        assert_eq!(receiver.try_recv(), Ok(1));
        assert_eq!(second.await, Ok(()));
        assert_eq!(receiver.try_recv(), Ok(2));
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Empty));
    }

    #[tokio::test]
    async fn a_waiting_sender_learns_the_receiver_left() {
        let (sender, receiver) = channel(1);
        assert!(sender.send("kept").await.is_ok());
        let mut waiting = Box::pin(sender.send("refused"));
        assert!(poll_once(waiting.as_mut()).await.is_none());
        drop(receiver);
        assert_eq!(waiting.await, Err("refused"));
    }

    #[tokio::test]
    async fn a_waiting_receiver_learns_the_sender_left() {
        let (sender, mut receiver) = channel::<u8>(4);
        let mut waiting = Box::pin(receiver.recv());
        assert!(poll_once(waiting.as_mut()).await.is_none());
        drop(sender);
        assert_eq!(waiting.await, None);
    }

    /// Counts its wake-ups: a consumer outside any task.
    #[derive(Default)]
    struct Woken(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn woken(count: &Arc<Woken>) -> usize {
        count.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_registered_waker_is_woken_by_the_next_send_or_the_senders_end() {
        let (sender, mut receiver) = channel(4);
        let count = Arc::new(Woken::default());
        let waker = Waker::from(count.clone());
        assert!(!receiver.ready_or_register(&waker));
        assert!(sender.send(1).await.is_ok());
        assert_eq!(woken(&count), 1);
        // A message is there: ready, and the waker is not kept.
        assert!(receiver.ready_or_register(&waker));
        assert!(sender.send(2).await.is_ok());
        assert_eq!(woken(&count), 1);
        assert_eq!((receiver.try_recv(), receiver.try_recv()), (Ok(1), Ok(2)));
        assert!(!receiver.ready_or_register(&waker));
        drop(sender);
        assert_eq!(woken(&count), 2);
        assert!(receiver.ready_or_register(&waker));
        assert_eq!(receiver.try_recv(), Err(TryRecvError::Disconnected));
    }

    /// Poll a future once: `Some(output)` if it is ready.
    async fn poll_once<F: std::future::Future + Unpin>(mut future: F) -> Option<F::Output> {
        poll_fn(|cx| match std::pin::Pin::new(&mut future).poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }
}
