//! HTTP syntax checks for strain requests written in the config (RFC 9110 tokens and field
//! values), so the bottom crate validates them without an HTTP stack.

/// A method or header name: one or more `tchar`s.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value: visible ASCII, spaces and tabs (what the strain client sends as is).
pub fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// An origin-form request target: `/` then visible ASCII, no fragment.
pub fn is_path_and_query(s: &str) -> bool {
    s.starts_with('/') && s.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_values_and_targets() {
        assert!(is_token("GET") && is_token("x-launchguard-strain"));
        assert!(!is_token("") && !is_token("GE T") && !is_token("a:b"));
        assert!(is_header_value("Bearer abc\tdef") && is_header_value(""));
        assert!(!is_header_value("a\r\nb") && !is_header_value("é"));
        assert!(is_path_and_query("/api/v1/x?a=1&b=%20"));
        assert!(
            !is_path_and_query("/a b") && !is_path_and_query("/a#f") && !is_path_and_query("a")
        );
    }
}
