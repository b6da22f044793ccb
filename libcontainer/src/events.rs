//! A container's events, as `runc events` streams them: its statistics
//! every interval, and an OOM event each time the kernel's OOM killer
//! strikes in its memory cgroup, until the container stops.

use std::time::Duration;

use crate::cgroups::Stats;
use crate::container::{Container, Status};

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The container's statistics now.
    Stats(Box<Stats>),
    /// A process of the container was killed by the OOM killer since the
    /// last event.
    Oom,
}

/// An iterator over a container's events: the first statistics at once,
/// then one round per `interval`; it ends when the container stops (or its
/// cgroup can no longer be read).
#[derive(Debug)]
pub struct Events<'a> {
    c: &'a Container,
    every: Duration,
    ooms: Option<u64>,
    pending: Option<Event>,
    started: bool,
}

impl<'a> Events<'a> {
    /// Events of `c`, every `interval`.
    pub fn new(c: &'a Container, interval: Duration) -> Events<'a> {
        Events {
            c,
            every: interval,
            ooms: None,
            pending: None,
            started: false,
        }
    }
}

impl Iterator for Events<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if let Some(e) = self.pending.take() {
            return Some(e);
        }
        if self.started {
            std::thread::sleep(self.every);
        }
        self.started = true;
        if self.c.status() == Status::Stopped {
            return None;
        }
        let s = self.c.stats().ok()?;
        let kills = s.memory.oom_kills;
        let before = self.ooms.replace(kills);
        if before.is_some_and(|b| kills > b) {
            self.pending = Some(Event::Stats(Box::new(s)));
            return Some(Event::Oom);
        }
        Some(Event::Stats(Box::new(s)))
    }
}

impl Container {
    /// The container's events every `interval` (see [`Events`]).
    pub fn events(&self, interval: Duration) -> Events<'_> {
        Events::new(self, interval)
    }
}
