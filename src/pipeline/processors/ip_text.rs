//! IP addresses read from text, with the last text each thread read
//! remembered.
//!
//! A record's client address is read several times: the shipped nginx
//! pipeline picks it with `first_public_ip`, checks it with `convert` (type
//! `ip`) and looks it up in two GeoIP databases. Reading an IPv4 address
//! costs about 250 instructions; comparing its text with the last one read
//! costs a small part of that. The memo holds one text per thread and is
//! pure (the same text always gives the same answer), so it changes no
//! result.

use std::cell::RefCell;
use std::net::IpAddr;

/// The longest text that can be an address:
/// `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`. Anything longer is
/// parsed (and rejected) without the memo.
const MAX_TEXT: usize = 45;

struct Last {
    /// `usize::MAX` until the thread has read a text.
    len: usize,
    text: [u8; MAX_TEXT],
    ip: Option<IpAddr>,
}

thread_local! {
    static LAST: RefCell<Last> = const {
        RefCell::new(Last {
            len: usize::MAX,
            text: [0; MAX_TEXT],
            ip: None,
        })
    };
}

/// `text` as an IPv4 or IPv6 address, as `text.parse::<IpAddr>().ok()`.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    let bytes = text.as_bytes();
    if bytes.len() > MAX_TEXT {
        return text.parse().ok();
    }
    LAST.try_with(|last| {
        let mut last = last.borrow_mut();
        if last.len == bytes.len() && last.text.get(..bytes.len()) == Some(bytes) {
            return last.ip;
        }
        let ip = text.parse().ok();
        if let Some(to) = last.text.get_mut(..bytes.len()) {
            to.copy_from_slice(bytes);
            last.len = bytes.len();
            last.ip = ip;
        }
        ip
    })
    .unwrap_or_else(|_| text.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn repeated_and_alternating_texts() {
        for text in [
            "81.2.69.142",
            "81.2.69.142",
            "81.2.69.143",
            "2001:db8::1",
            "::ffff:1.2.3.4",
            "not an ip",
            "not an ip",
            "",
            "81.2.69.142",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555",
        ] {
            assert_eq!(parse_ip(text), reference(text), "{text:?}");
        }
    }

    #[test]
    fn a_prefix_of_the_last_text_is_not_taken_for_it() {
        assert_eq!(parse_ip("10.1.2.34"), reference("10.1.2.34"));
        assert_eq!(parse_ip("10.1.2.3"), reference("10.1.2.3"));
        assert_eq!(parse_ip("10.1.2.3"), Some("10.1.2.3".parse().unwrap()));
    }

    proptest! {
        /// Any sequence of texts (addresses, near-addresses and noise, with
        /// repeats) reads exactly as the standard parser reads each one.
        #[test]
        fn memo_changes_no_answer(texts in proptest::collection::vec(
            prop_oneof![
                "(25[0-5]|1?[0-9]{1,2})(\\.(25[0-5]|1?[0-9]{1,2})){3}",
                "[0-9a-f:.]{0,20}",
                Just("81.2.69.142".to_owned()),
                Just("2001:db8::1".to_owned()),
                any::<String>(),
            ],
            1..40,
        )) {
            for text in &texts {
                prop_assert_eq!(parse_ip(text), reference(text), "{:?}", text);
            }
        }
    }
}
