//! Name globs: `*` matches any run of characters, `?` any one; nothing else is special.

/// Whether `name` matches `pattern`. Linear in practice: the classic backtracking
/// matcher keeps only the last `*`, so no pattern can make it exponential.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((star_p, star_n)) = star {
            pi = star_p + 1;
            ni = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("*", "anything"));
        assert!(matches("*", ""));
        assert!(matches("finance-*", "finance-q3"));
        assert!(!matches("finance-*", "hr-finance-q3"));
        assert!(matches("*-q?", "finance-q3"));
        assert!(!matches("*-q?", "finance-q31"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("adults", "adults"));
        assert!(!matches("adults", "adult"));
        assert!(!matches("", "x"));
    }
}
