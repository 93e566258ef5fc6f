//! The one function that turns values into shell words. Every command line cutover sends
//! to a shell (local `sh -c` or a remote login shell over SSH) is built here.

use std::borrow::Cow;

/// Quotes `word` for a POSIX shell so that it is read back as exactly one word.
///
/// Safe words are left as they are (easier to read in `cutover plan`); anything else is
/// wrapped in single quotes, inside which the shell interprets nothing, with each `'`
/// written as `'\''`.
pub fn quote(word: &str) -> Cow<'_, str> {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if safe {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// Quotes every word and joins them with spaces.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The shell must give back exactly the words we quoted, whatever they contain.
    #[test]
    fn round_trips_through_sh() {
        let words = [
            "plain",
            "",
            "with space",
            "it's",
            "$HOME",
            "`id`",
            "a\"b",
            "new\nline",
            "*",
            "-n",
            "back\\slash",
            "ünïcode",
            "'",
            "''",
        ];
        let script = format!("for w in {}; do printf '%s\\0' \"$w\"; done", join(&words));
        let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
        let got: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|_| true)
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect();
        let mut expected: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        expected.push(String::new()); // after the final NUL
        assert_eq!(got, expected);
    }

    #[test]
    fn leaves_safe_words_readable() {
        assert_eq!(quote("/srv/app"), "/srv/app");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(""), "''");
    }
}
