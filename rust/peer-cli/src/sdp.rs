//! Putting gathered candidates into a description, for peers that do not trickle.

/// One gathered local candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCandidate {
    pub mid: String,
    pub mline_index: u32,
    /// `candidate:...` (without `a=`).
    pub candidate: String,
}

/// Returns `sdp` with `a=candidate` lines and `a=end-of-candidates` added at the end of each
/// media section, matched by `a=mid` (or by m-line index when the candidate has no mid match).
pub fn with_candidates(sdp: &str, candidates: &[LocalCandidate]) -> String {
    let lines: Vec<&str> = sdp.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut sections: Vec<Vec<&str>> = vec![Vec::new()];
    for line in &lines {
        if line.starts_with("m=") {
            sections.push(Vec::new());
        }
        if let Some(section) = sections.last_mut() {
            section.push(line);
        }
    }
    let mut out = String::with_capacity(sdp.len() + candidates.len() * 80);
    for (index, section) in sections.iter().enumerate() {
        for line in section.iter().filter(|l| !l.is_empty()) {
            if *line == "a=end-of-candidates" {
                continue;
            }
            out.push_str(line);
            out.push_str("\r\n");
        }
        if index == 0 {
            continue; // session-level part
        }
        let mline_index = (index - 1) as u32;
        let mid = section.iter().find_map(|l| l.strip_prefix("a=mid:"));
        for candidate in candidates {
            let matches = match mid {
                Some(mid) if !candidate.mid.is_empty() => candidate.mid == mid,
                _ => candidate.mline_index == mline_index,
            };
            if matches {
                let line = candidate.candidate.trim_start_matches("a=");
                out.push_str("a=");
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str("a=end-of-candidates\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sctp-port:5000\r\n";

    #[test]
    fn candidates_land_in_their_section() {
        let candidates = [
            LocalCandidate {
                mid: "0".into(),
                mline_index: 0,
                candidate: "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host".into(),
            },
            LocalCandidate {
                mid: "0".into(),
                mline_index: 0,
                candidate: "a=candidate:2 1 udp 2130706431 127.0.0.1 40001 typ host".into(),
            },
        ];
        let out = with_candidates(SDP, &candidates);
        assert!(out.starts_with("v=0\r\n"));
        assert!(out.ends_with(
            "a=sctp-port:5000\r\n\
a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n\
a=candidate:2 1 udp 2130706431 127.0.0.1 40001 typ host\r\n\
a=end-of-candidates\r\n"
        ));
        // The session part stays before the media section.
        let media_at = out.find("m=application").unwrap();
        assert!(out.find("a=group:BUNDLE 0").unwrap() < media_at);
        assert!(out.find("a=candidate:1").unwrap() > media_at);
    }

    #[test]
    fn no_candidates_still_marks_the_end() {
        let out = with_candidates(SDP, &[]);
        assert_eq!(out.matches("a=end-of-candidates").count(), 1);
        assert!(!out.contains("a=candidate"));
        // Applying twice does not duplicate the marker.
        assert_eq!(
            with_candidates(&out, &[])
                .matches("a=end-of-candidates")
                .count(),
            1
        );
    }
}
