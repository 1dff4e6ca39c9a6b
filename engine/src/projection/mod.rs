//! Read models folded from the log. Pure: they are fed events and never read the store
//! themselves, so each can be dropped and rebuilt from position 0.

mod issue_index;

pub use issue_index::{IssueFilter, IssueIndex, Page};
