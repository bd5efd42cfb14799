//! Identifiers and byte encodings: DevEUIs, base64 and hexadecimal.

use super::error::{excerpt, UplinkError};

/// A validated DevEUI: its lower-case text and its 64-bit value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DevEui {
    /// 16 lower-case hex digits.
    pub(crate) text: String,
    /// The same as a number, for compact deduplication keys.
    pub(crate) value: u64,
}

/// Reads a DevEUI: exactly 16 hexadecimal digits, any case; `field` names where it was read.
pub(crate) fn parse_dev_eui(raw: &str, field: &str) -> Result<DevEui, UplinkError> {
    let fail = |problem: String| UplinkError::InvalidDevEui {
        field: field.to_owned(),
        value: excerpt(raw),
        problem,
    };
    if raw.is_empty() {
        return Err(fail("it is empty".to_owned()));
    }
    if let Some((pos, c)) = raw.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(fail(format!(
            "character {c:?} at position {pos} is not a hexadecimal digit"
        )));
    }
    if raw.len() != 16 {
        return Err(fail(format!("it has {} digits instead of 16", raw.len())));
    }
    let value = u64::from_str_radix(raw, 16)
        .map_err(|e| fail(format!("it cannot be read as a 64-bit number ({e})")))?;
    Ok(DevEui {
        text: raw.to_ascii_lowercase(),
        value,
    })
}

/// Reads a device address (4 bytes, 8 hex digits) into lower case; an empty one (proto3's
/// default) is `None`.
pub(crate) fn parse_dev_addr(raw: &str, field: &str) -> Result<Option<String>, UplinkError> {
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() != 8 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(UplinkError::InvalidValue {
            field: field.to_owned(),
            value: format!("{:?}", excerpt(raw)),
            expected: "a device address of 8 hexadecimal digits, e.g. \"00bcb929\"",
        });
    }
    Ok(Some(raw.to_ascii_lowercase()))
}

/// The 6-bit value of one base64 character, in the standard or URL-safe alphabet.
fn base64_value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes base64 as the proto3 JSON mapping allows it: standard or URL-safe alphabet, with or
/// without `=` padding. Refuses anything else (whitespace, stray characters, padding in the
/// middle, impossible lengths), so that a corrupted payload is an error, not wrong bytes.
pub(crate) fn decode_base64(raw: &str, field: &str) -> Result<Vec<u8>, UplinkError> {
    let fail = |detail: String| UplinkError::InvalidBase64 {
        field: field.to_owned(),
        detail,
    };
    let bytes = raw.as_bytes();
    let data_len = bytes
        .iter()
        .rposition(|&b| b != b'=')
        .map_or(0, |last| last + 1);
    let padding = bytes.len() - data_len;
    if padding > 2 {
        return Err(fail(format!(
            "it ends with {padding} '=', at most 2 are allowed"
        )));
    }
    if padding > 0 && !bytes.len().is_multiple_of(4) {
        return Err(fail(format!(
            "it is padded with '=' but its length {} is not a multiple of 4",
            bytes.len()
        )));
    }
    if data_len % 4 == 1 {
        return Err(fail(format!(
            "its length {data_len} (without padding) leaves one character over; it was \
             probably cut short"
        )));
    }
    let data = bytes.get(..data_len).unwrap_or_default();
    let mut out = Vec::with_capacity(data_len / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for (pos, &c) in data.iter().enumerate() {
        let Some(v) = base64_value(c) else {
            return Err(fail(if c == b'=' {
                format!("padding '=' at position {pos} is not at the end")
            } else if c.is_ascii_graphic() || c == b' ' {
                format!(
                    "character {:?} at position {pos} is not base64",
                    char::from(c)
                )
            } else {
                format!("byte 0x{c:02x} at position {pos} is not base64")
            }));
        };
        acc = ((acc << 6) | v) & 0xFFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // Truncation is the point: the low 8 bits above `bits` form the next byte.
            out.push(((acc >> bits) & 0xFF) as u8);
        }
    }
    Ok(out)
}

/// Decodes hexadecimal, two digits per byte, any case.
pub(crate) fn decode_hex(raw: &str, field: &str) -> Result<Vec<u8>, UplinkError> {
    let fail = |detail: String| UplinkError::InvalidHex {
        field: field.to_owned(),
        detail,
    };
    if let Some((pos, c)) = raw.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(fail(format!(
            "character {c:?} at position {pos} is not a hexadecimal digit"
        )));
    }
    if !raw.len().is_multiple_of(2) {
        return Err(fail(format!(
            "it has an odd number of digits ({}); each byte needs two",
            raw.len()
        )));
    }
    raw.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let hi = char::from(pair[0]).to_digit(16);
            let lo = char::from(pair[1]).to_digit(16);
            match (hi, lo) {
                // Both digits are below 16, so the byte fits.
                (Some(hi), Some(lo)) => Ok(((hi << 4) | lo) as u8),
                _ => Err(fail("a digit pair could not be read".to_owned())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Result<Vec<u8>, UplinkError> {
        decode_base64(s, "data")
    }

    #[test]
    fn base64_standard_url_safe_and_unpadded() {
        assert_eq!(b64("qg==").ok(), Some(vec![0xaa]));
        assert_eq!(b64("qg").ok(), Some(vec![0xaa]));
        assert_eq!(b64("").ok(), Some(vec![]));
        assert_eq!(b64("AQDiBgMI").ok(), Some(vec![1, 0, 0xe2, 6, 3, 8]));
        assert_eq!(b64("gkHe").ok(), Some(vec![0x82, 0x41, 0xde]));
        assert_eq!(b64("+/8=").ok(), Some(vec![0xfb, 0xff]));
        assert_eq!(b64("-_8=").ok(), Some(vec![0xfb, 0xff]));
        assert_eq!(
            b64("VGVtcGVyYXR1cmUgPSAwLjA=").ok(),
            Some(b"Temperature = 0.0".to_vec())
        );
    }

    #[test]
    fn base64_refuses_corruption() {
        for bad in [
            "q", "qg=", "qg===", "q=g=", "qg==qg==", "qg ==", "qé==", "a", "abcde",
        ] {
            assert!(
                matches!(b64(bad), Err(UplinkError::InvalidBase64 { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(decode_hex("01aBfF", "hex").ok(), Some(vec![1, 0xab, 0xff]));
        assert!(decode_hex("abc", "hex").is_err());
        assert!(decode_hex("0x01", "hex").is_err());
        assert!(decode_hex("é1", "hex").is_err());
    }

    #[test]
    fn dev_eui_rules() {
        let eui = parse_dev_eui("0004A30B001C0530", "devEui").ok();
        assert_eq!(
            eui,
            Some(DevEui {
                text: "0004a30b001c0530".to_owned(),
                value: 0x0004_a30b_001c_0530
            })
        );
        for bad in [
            "",
            "0004A30B001C053",
            "0004A30B001C05300",
            "0004-A30B001C053",
            "é004A30B001C053",
        ] {
            assert!(parse_dev_eui(bad, "devEui").is_err(), "{bad:?}");
        }
    }
}
