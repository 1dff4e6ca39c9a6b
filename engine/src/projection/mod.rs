//! Read models folded from the log. Pure: they are fed events and never read the store
//! themselves, so each can be dropped and rebuilt from position 0.

mod chains;
mod issue_index;
mod stats;

pub use chains::ChainTracker;
pub use issue_index::{IndexProblem, IssueFilter, IssueIndex, Page};
pub use stats::{
    CategoryCount, CommunityCount, Evaluations, IssueTotals, MicroTotals, Resolutions, Spread, StateCount, Stats,
    state_counts, stats,
};
