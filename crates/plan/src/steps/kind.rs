//! The registry of step kinds, declared once: [`step_kinds!`] turns one line per kind (its
//! name in plans, its section type, its roles) into the plan's [`StepKind`](super::StepKind)
//! enum (with its serde and JSON Schema forms), the field-less [`Kind`](super::Kind) that
//! names it, the reader, and the validation dispatch. A kind's section type lives in its own
//! file with its fields (`FIELDS`), its reader (`read`) and its [`Validate`] impl; the engine
//! has one runner per kind, chosen by an exhaustive match.

use crate::problem::Problems;
use crate::validate::StepCheck;

/// What a kind is for, beyond its own work: other parts of the plan look for kinds by role,
/// never by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Moves users' traffic (DNS records, a proxy's upstream): what a soak's trigger undoes
    /// by default, and what `[downtime]` probes.
    TrafficSwitch,
    /// Moves a data store's writes to the target (a freeze, catch-up and promotion):
    /// `[downtime]` probes it too.
    DataSwitch,
    /// Waits for a person or for time: never changes a host.
    Gate,
    /// Proves data: a difference fails with exit code 9; its result is a proof in the report.
    Proof,
}

/// Cross-reference checks of a kind's section (hosts, secrets, vars and other steps it
/// names), run once the whole plan is read. Every kind implements it in its own file, even
/// when it has nothing to check (then with the default), so none is forgotten.
pub(crate) trait Validate {
    /// Records the problems of this step's section.
    fn validate(&self, _c: &StepCheck<'_>, _p: &mut Problems) {}
}

/// Declares every step kind: `Variant = "name": SectionType [roles];`, doc comments first.
macro_rules! step_kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal : $ty:ty [$($role:ident),*] ; )*) => {
        /// The kind of a step, chosen by its `kind` field, with its fields.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
        #[serde(tag = "kind")]
        #[schemars(transform = crate::schema::describe_variant_fields)]
        pub enum StepKind {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($ty), )*
        }

        /// A step kind without its fields: its name in plans and its roles.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $( $(#[$doc])* $variant, )*
        }

        /// Every step kind's name, in the order `cutover init` documents them.
        pub const KINDS: &[&str] = &[$($name),*];

        impl Kind {
            /// Every kind, in the order of [`KINDS`].
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// The kind's name as written in plans.
            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => $name,)* }
            }

            /// The kind named `name` in a plan.
            pub fn parse(name: &str) -> Option<Kind> {
                match name { $($name => Some(Kind::$variant),)* _ => None }
            }

            /// What the kind is for, beyond its own work.
            pub fn roles(self) -> &'static [Role] {
                match self { $(Kind::$variant => &[$(Role::$role),*],)* }
            }

            /// True when the kind has `role`.
            pub fn is(self, role: Role) -> bool {
                self.roles().contains(&role)
            }

            /// Reads a section of this kind.
            pub(crate) fn read(
                self,
                f: &mut crate::read::Fields<'_>,
                p: &mut $crate::problem::Problems,
            ) -> Option<StepKind> {
                match self {
                    $(Kind::$variant => {
                        f.set_known(<$ty>::FIELDS);
                        <$ty>::read(f, p).map(StepKind::$variant)
                    })*
                }
            }
        }

        impl StepKind {
            /// The field-less kind.
            pub fn kind(&self) -> Kind {
                match self { $(StepKind::$variant(_) => Kind::$variant,)* }
            }

            /// The kind's name as written in plans.
            pub fn name(&self) -> &'static str {
                self.kind().name()
            }

            /// Records the cross-reference problems of this section.
            pub(crate) fn validate(&self, c: &$crate::validate::StepCheck<'_>, p: &mut $crate::problem::Problems) {
                match self {
                    $(StepKind::$variant(s) => $crate::steps::kind::Validate::validate(s, c, p),)*
                }
            }
        }
    };
}

pub(crate) use step_kinds;
