//! What became of each STUN and TURN server, for the failure report, and the problems the
//! application is told about (once per server).

use crate::failure::{ErrorReason, FailureReport, ServerOutcome, ServerReport};
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

#[derive(Default)]
pub(super) struct ServerReports {
    /// (configured server index, its report), at most [`FailureReport::MAX_SERVERS`].
    entries: Vec<(usize, ServerReport)>,
    changed: bool,
    /// Servers whose problem the application was told about.
    told: BTreeSet<usize>,
    problems: VecDeque<(ErrorReason, String)>,
}

impl ServerReports {
    /// Records the outcome of server `server` (named `url`) at `address` asked from `local`,
    /// replacing the entry that stood for it while less was known.
    pub fn set(
        &mut self,
        server: usize,
        url: &str,
        address: Option<SocketAddr>,
        local: Option<SocketAddr>,
        outcome: ServerOutcome,
    ) {
        let full = self.entries.len() >= FailureReport::MAX_SERVERS;
        let found = self.entries.iter_mut().find(|(i, r)| {
            *i == server
                && (r.address.is_none() || r.address == address)
                && (r.local_address.is_none() || r.local_address == local)
        });
        match found {
            Some((_, r)) => {
                r.address = address.or(r.address);
                r.local_address = local.or(r.local_address);
                r.outcome = outcome;
            }
            None if !full => self.entries.push((
                server,
                ServerReport {
                    url: url.to_owned(),
                    address,
                    local_address: local,
                    outcome,
                },
            )),
            None => return,
        }
        self.changed = true;
    }

    /// The server index of the entry for `address` asked from `local`.
    pub fn server_at(&self, address: SocketAddr, local: SocketAddr) -> Option<usize> {
        self.entries
            .iter()
            .find(|(_, r)| r.address == Some(address) && r.local_address == Some(local))
            .map(|(i, _)| *i)
    }

    /// Tells the application about a problem with server `server`, unless it heard of one.
    pub fn problem(&mut self, server: usize, reason: ErrorReason, message: String) {
        if self.told.insert(server) {
            self.problems.push_back((reason, message));
        }
    }

    pub fn poll_problem(&mut self) -> Option<(ErrorReason, String)> {
        self.problems.pop_front()
    }

    /// The reports, if they changed since the last call.
    pub fn take_change(&mut self) -> Option<Vec<ServerReport>> {
        std::mem::take(&mut self.changed)
            .then(|| self.entries.iter().map(|(_, r)| r.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("address")
    }

    #[test]
    fn an_entry_gains_detail_and_problems_are_told_once() {
        let mut r = ServerReports::default();
        r.set(0, "stun:s", None, None, ServerOutcome::Pending);
        let server = Some(addr("127.0.0.1:3478"));
        let local = Some(addr("127.0.0.1:5000"));
        r.set(0, "stun:s", server, local, ServerOutcome::Pending);
        r.set(0, "stun:s", server, local, ServerOutcome::NoAnswer);
        let list = r.take_change().expect("changed");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].outcome, ServerOutcome::NoAnswer);
        assert_eq!((list[0].address, list[0].local_address), (server, local));
        assert!(r.take_change().is_none());
        r.problem(0, ErrorReason::IceServerUnreachable, "a".into());
        r.problem(0, ErrorReason::IceServerUnreachable, "b".into());
        assert_eq!(r.poll_problem().map(|p| p.1), Some("a".to_owned()));
        assert!(r.poll_problem().is_none());
        assert_eq!(
            r.server_at(addr("127.0.0.1:3478"), addr("127.0.0.1:5000")),
            Some(0)
        );
    }

    #[test]
    fn the_list_is_capped() {
        let mut r = ServerReports::default();
        for i in 0..100 {
            r.set(i, "stun:s", None, None, ServerOutcome::DnsFailed);
        }
        assert_eq!(
            r.take_change().map(|l| l.len()),
            Some(FailureReport::MAX_SERVERS)
        );
    }
}
