//! Workflow definitions as data: their document form, their validation with coded
//! diagnostics, and the compiled form replay runs on.

mod compiled;
mod definition;
mod duration;
mod guard;
mod name;
mod validate;

pub use compiled::{CompiledWorkflow, StepOption, TransitionChoice};
pub use definition::{Definition, StateDef, TransitionDef, TransitionSpec};
pub use duration::{IsoDuration, parse_duration};
pub use guard::{Bump, DataValue, Guard, GuardContext, PayloadReads, Reads};
pub use name::Name;
pub use validate::{Diagnostic, Severity, is_publishable, validate_definition};

/// The event type that opens an issue under a workflow (not a transition of any state).
pub const OPENING_EVENT: &str = "IssueRaised";
