//! Closed sets of names a plan writes as strings (a DNS provider's kind, a proxy's kind, a
//! hash algorithm...), declared once each as an enum: [`named_enum!`] gives its variants, the
//! names plans use, parsing, and reading from TOML with a located "which is not known"
//! problem (with a did-you-mean). Code that acts on one matches the enum exhaustively, so no
//! `_ =>` arm silently stands for a name added later.

/// Declares `pub enum NAME { Variant = "name", ... }` with `NAMES`, `name()`, `parse()`,
/// `Display`, serde and JSON Schema (as its names), and `FromToml`.
macro_rules! named_enum {
    ($(#[$m:meta])* pub enum $E:ident { $( $(#[$vm:meta])* $V:ident = $n:literal ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
        pub enum $E {
            $( $(#[$vm])* #[serde(rename = $n)] $V ),*
        }

        impl $E {
            /// Every name a plan may write, in order.
            pub const NAMES: &'static [&'static str] = &[$($n),*];

            /// The name as written in plans.
            pub fn name(self) -> &'static str {
                match self { $($E::$V => $n),* }
            }

            /// The value named `name`.
            pub fn parse(name: &str) -> Option<Self> {
                match name { $($n => Some($E::$V),)* _ => None }
            }
        }

        impl std::fmt::Display for $E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl $crate::read::FromToml for $E {
            fn read(
                value: &mut toml_span::value::Value<'_>,
                what: &str,
                p: &mut $crate::problem::Problems,
            ) -> Option<Self> {
                let span = value.span;
                let text = <String as $crate::read::FromToml>::read(value, what, p)?;
                if let Some(v) = $E::parse(&text) {
                    return Some(v);
                }
                let help = match $crate::problem::did_you_mean(&text, $E::NAMES.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("use one of: {}", $E::NAMES.join(", ")),
                };
                p.push(
                    $crate::problem::Problem::new(
                        span,
                        format!("{what} is `{text}`, which is not known"),
                        "unknown value",
                    )
                    .help(help),
                );
                None
            }
        }
    };
}

pub(crate) use named_enum;
