//! What the CLI needs besides the generated client: connecting with a
//! clear error, and masking personal data for screens and exports.

use std::time::Duration;

use gridsync_proto::office::v1::office_client::OfficeClient;
use tonic::transport::{Channel, Endpoint};

/// Connects to a node's office API at `addr` (`127.0.0.1:7400` or a URL).
pub async fn connect(addr: &str) -> Result<OfficeClient<Channel>, String> {
    let url = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| format!("{addr:?} is not an address like 127.0.0.1:7400: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let channel = endpoint.connect().await.map_err(|e| {
        format!("cannot reach the node at {url}: {e}; is gridsync-node running there?")
    })?;
    Ok(OfficeClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(8 * 1024 * 1024))
}

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
