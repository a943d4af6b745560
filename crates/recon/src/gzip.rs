//! gzip (RFC 1952) around raw DEFLATE: WeChat serves bills gzipped when asked.

/// The bytes inside a gzip member, checked against its CRC-32 and length.
pub fn decompress(bytes: &[u8]) -> Result<Vec<u8>, String> {
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    const FHCRC: u8 = 2;
    if bytes.len() < 18 || bytes[0] != 0x1f || bytes[1] != 0x8b || bytes[2] != 8 {
        return Err("not a gzip file".into());
    }
    let flags = bytes[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let len = usize::from(*bytes.get(at).ok_or("gzip header cut short")?)
            | usize::from(*bytes.get(at + 1).ok_or("gzip header cut short")?) << 8;
        at += 2 + len;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let end = bytes
                .get(at..)
                .and_then(|rest| rest.iter().position(|&b| b == 0))
                .ok_or("gzip header cut short")?;
            at += end + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at + 8 > bytes.len() {
        return Err("gzip file cut short".into());
    }
    let body = &bytes[at..bytes.len() - 8];
    let out = miniz_oxide::inflate::decompress_to_vec(body)
        .map_err(|e| format!("gzip data is damaged: {e:?}"))?;
    let trailer = &bytes[bytes.len() - 8..];
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let len = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc32(&out) != crc || out.len() as u32 != len {
        return Err("gzip data does not match its checksum".into());
    }
    Ok(out)
}

/// A gzip member of `data`.
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE 802.3, reflected), as gzip and zip use it.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let data = "交易时间,商户订单号\n`2026-12-05 10:00:00,`1\n".repeat(50);
        let z = compress(data.as_bytes());
        assert_eq!(decompress(&z).expect("round trip"), data.as_bytes());
        let mut damaged = z.clone();
        let mid = damaged.len() / 2;
        damaged[mid] ^= 0x55;
        assert!(decompress(&damaged).is_err());
        assert!(decompress(&z[..z.len() - 3]).is_err());
    }
}
