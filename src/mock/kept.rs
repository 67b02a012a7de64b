//! What a mock server remembers of what it served (its requests, its generations),
//! bounded: a long-running `fastrouter mock` keeps the most recent [`KEPT`] of each
//! instead of everything (~1 KB a request: hundreds of MB after a benchmark's millions).

use std::collections::{HashMap, VecDeque};

/// How many recent requests, and generations, a server keeps.
pub const KEPT: usize = 10_000;

/// The most recent [`KEPT`] items, oldest first.
pub struct Recent<T>(VecDeque<T>);

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self(VecDeque::new())
    }
}

impl<T: Clone> Recent<T> {
    pub fn push(&mut self, item: T) {
        if self.0.len() == KEPT {
            self.0.pop_front();
        }
        self.0.push_back(item);
    }

    pub fn to_vec(&self) -> Vec<T> {
        self.0.iter().cloned().collect()
    }
}

/// Generations by id (`GET /generation`); past [`KEPT`] the oldest is forgotten.
pub struct Generations<T> {
    by_id: HashMap<String, T>,
    order: VecDeque<String>,
}

impl<T> Default for Generations<T> {
    fn default() -> Self {
        Self {
            by_id: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T> Generations<T> {
    pub fn insert(&mut self, id: String, generation: T) {
        if self.by_id.insert(id.clone(), generation).is_none() {
            self.order.push_back(id);
            if self.order.len() > KEPT {
                if let Some(oldest) = self.order.pop_front() {
                    self.by_id.remove(&oldest);
                }
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn only_the_most_recent_requests_are_kept() {
        let mut recent = Recent::default();
        for n in 0..KEPT + 5 {
            recent.push(n);
        }
        let kept = recent.to_vec();
        assert_eq!(kept.len(), KEPT);
        assert_eq!((kept[0], kept[KEPT - 1]), (5, KEPT + 4));
    }

    #[test]
    fn the_oldest_generation_is_forgotten_past_the_bound() {
        let mut generations = Generations::default();
        for n in 0..=KEPT {
            generations.insert(format!("gen-{n}"), Value::from(n));
        }
        assert_eq!(generations.len(), KEPT);
        assert!(generations.get("gen-0").is_none());
        assert_eq!(
            generations.get(&format!("gen-{KEPT}")),
            Some(&Value::from(KEPT))
        );
        generations.insert(format!("gen-{KEPT}"), Value::Null); // again: not counted twice
        assert_eq!(generations.len(), KEPT);
        assert!(generations.get("gen-1").is_some());
    }
}
