//! Group commit, written once for every intake store: requests that arrive while
//! a commit runs wait together, the next commit takes all of them (up to a limit)
//! in one transaction, and each caller is answered after that commit.

use std::future::Future;

use inquest_domain::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::model::Alert;
use crate::policy::Policy;

/// A request that may be committed together with others.
pub trait Groupable: Send + 'static {
    /// How much of a group's limit it takes (the alerts of a batch).
    fn weight(&self) -> usize {
        1
    }

    /// Whether it may join the group that `first` started; one that may not
    /// starts the next group.
    fn joins(&self, first: &Self) -> bool {
        let _ = first;
        true
    }
}

/// One `IngestStore::ingest` call: a batch of alerts under a policy.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    pub alerts: Vec<Alert>,
    pub policy: Policy,
    pub now: Timestamp,
}

impl Groupable for IngestRequest {
    fn weight(&self) -> usize {
        self.alerts.len()
    }

    /// A group is correlated under one policy.
    fn joins(&self, first: &Self) -> bool {
        self.policy.version == first.policy.version
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("the group committer has stopped")]
    Stopped,
    #[error("the group committer stopped before answering")]
    NoAnswer,
}

struct Waiting<Req, Resp> {
    request: Req,
    reply: oneshot::Sender<Resp>,
}

/// The callers' side: submit a request and wait for the commit that holds it.
/// The committer ends when every handle is dropped.
pub struct GroupCommit<Req, Resp> {
    tx: mpsc::UnboundedSender<Waiting<Req, Resp>>,
}

impl<Req, Resp> Clone for GroupCommit<Req, Resp> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<Req: Groupable, Resp: Send + 'static> GroupCommit<Req, Resp> {
    /// A queue whose groups weigh at most `limit` (a heavier request is a group of its own).
    pub fn new(limit: usize) -> (Self, Groups<Req, Resp>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, Groups { rx, held: None, limit })
    }

    /// Queue `request`; its answer comes once the commit holding it is done.
    pub async fn submit(&self, request: Req) -> Result<Resp, GroupError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Waiting { request, reply }).map_err(|_| GroupError::Stopped)?;
        answer.await.map_err(|_| GroupError::NoAnswer)
    }
}

/// The committer's side: takes the waiting requests off the queue a group at a time.
pub struct Groups<Req, Resp> {
    rx: mpsc::UnboundedReceiver<Waiting<Req, Resp>>,
    /// A request that could not join the last group: it starts the next one.
    held: Option<Waiting<Req, Resp>>,
    limit: usize,
}

impl<Req: Groupable, Resp: Send + 'static> Groups<Req, Resp> {
    /// Commit groups on this task until every `GroupCommit` is dropped. `commit`
    /// gets the requests in arrival order and returns one answer per request.
    pub async fn run<F, Fut>(mut self, mut commit: F)
    where
        F: FnMut(Vec<Req>) -> Fut,
        Fut: Future<Output = Vec<Resp>>,
    {
        loop {
            let first = match self.held.take() {
                Some(w) => w,
                None => match self.rx.recv().await {
                    Some(w) => w,
                    None => return,
                },
            };
            let (requests, replies) = self.gather(first);
            answer(replies, commit(requests).await);
        }
    }

    /// `run` on a thread of its own, for a store whose commits block.
    pub fn run_blocking(mut self, mut commit: impl FnMut(Vec<Req>) -> Vec<Resp>) {
        loop {
            let first = match self.held.take() {
                Some(w) => w,
                None => match self.rx.blocking_recv() {
                    Some(w) => w,
                    None => return,
                },
            };
            let (requests, replies) = self.gather(first);
            answer(replies, commit(requests));
        }
    }

    /// `first` and every request waiting now that may join it, up to the limit.
    fn gather(&mut self, first: Waiting<Req, Resp>) -> (Vec<Req>, Vec<oneshot::Sender<Resp>>) {
        let mut weight = first.request.weight();
        let mut requests = vec![first.request];
        let mut replies = vec![first.reply];
        while weight < self.limit {
            match self.rx.try_recv() {
                Ok(w) if w.request.joins(&requests[0]) => {
                    weight += w.request.weight();
                    requests.push(w.request);
                    replies.push(w.reply);
                }
                Ok(w) => {
                    self.held = Some(w);
                    break;
                }
                Err(_) => break,
            }
        }
        (requests, replies)
    }
}

/// Answer each caller; one left without an answer sees `GroupError::NoAnswer`.
fn answer<Resp>(replies: Vec<oneshot::Sender<Resp>>, answers: Vec<Resp>) {
    for (reply, a) in replies.into_iter().zip(answers) {
        // The caller may have gone away (a cancelled request): its part is committed anyway.
        let _ = reply.send(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request of `weight` in lane `lane`; requests join only their lane's group.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Req {
        id: u32,
        lane: u8,
        weight: usize,
    }

    impl Groupable for Req {
        fn weight(&self) -> usize {
            self.weight
        }
        fn joins(&self, first: &Self) -> bool {
            self.lane == first.lane
        }
    }

    fn req(id: u32, lane: u8, weight: usize) -> Req {
        Req { id, lane, weight }
    }

    /// Queue every request before the committer starts, so all are waiting at once.
    async fn groups_of(limit: usize, requests: Vec<Req>) -> (Vec<Vec<u32>>, Vec<u32>) {
        let (queue, groups) = GroupCommit::<Req, u32>::new(limit);
        let answers: Vec<_> = requests
            .into_iter()
            .map(|r| {
                let q = queue.clone();
                tokio::spawn(async move { q.submit(r).await })
            })
            .collect();
        drop(queue);
        tokio::task::yield_now().await;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let committer = tokio::spawn(groups.run(move |group: Vec<Req>| {
            log.lock().expect("log").push(group.iter().map(|r| r.id).collect::<Vec<_>>());
            let out: Vec<u32> = group.iter().map(|r| r.id * 10).collect();
            async move { out }
        }));
        let mut got = Vec::new();
        for a in answers {
            got.push(a.await.expect("task").expect("answered"));
        }
        committer.await.expect("committer ends when the queue is dropped");
        let groups = seen.lock().expect("log").clone();
        (groups, got)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn waiting_requests_are_committed_together_and_each_gets_its_answer() {
        let requests = (1..=5).map(|i| req(i, 0, 1)).collect();
        let (groups, answers) = groups_of(100, requests).await;
        assert_eq!(groups, vec![vec![1, 2, 3, 4, 5]]);
        assert_eq!(answers, vec![10, 20, 30, 40, 50]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_group_stops_at_its_limit_and_at_a_request_that_cannot_join() {
        let requests = vec![req(1, 0, 2), req(2, 0, 2), req(3, 0, 1), req(4, 1, 1), req(5, 0, 1)];
        let (groups, answers) = groups_of(4, requests).await;
        assert_eq!(groups, vec![vec![1, 2], vec![3], vec![4], vec![5]]);
        assert_eq!(answers, vec![10, 20, 30, 40, 50]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_request_left_unanswered_is_an_error_not_a_hang() {
        let (queue, groups) = GroupCommit::<Req, u32>::new(8);
        let committer = tokio::spawn(groups.run(|_group: Vec<Req>| async { Vec::new() }));
        assert_eq!(queue.submit(req(1, 0, 1)).await, Err(GroupError::NoAnswer));
        drop(queue);
        committer.await.expect("committer ends");
    }

    #[test]
    fn a_blocking_committer_runs_on_its_own_thread() {
        let (queue, groups) = GroupCommit::<Req, u32>::new(8);
        let thread = std::thread::spawn(move || groups.run_blocking(|g| g.iter().map(|r| r.id + 1).collect()));
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        assert_eq!(rt.block_on(queue.submit(req(41, 0, 1))), Ok(42));
        drop(queue);
        thread.join().expect("the thread ends when the queue is dropped");
    }
}
