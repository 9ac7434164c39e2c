//! Masking personal data for screens and exports, as offices expect it:
//! a phone number keeps its first three and last four digits
//! (138****8000), an ID number its last four characters.

/// 13800138000 → 138****8000; landlines keep the area code and last four.
pub fn mask_phone(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// An ID number showing only its last four characters.
pub fn mask_id_number(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let keep = chars.len().min(4);
    format!(
        "{}{}",
        "*".repeat(chars.len() - keep),
        chars[chars.len() - keep..].iter().collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_identifies_the_line() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("0371-66668888"), "037******8888");
        assert_eq!(mask_phone("123"), "***");
        assert_eq!(mask_id_number("11010519491231002X"), "**************002X");
        assert_eq!(mask_id_number("12"), "12");
    }
}
