//! Lobby codes: their shape, random generation, and the quarantine that keeps a closed
//! lobby's code from being created again for a while.
//!
//! A code is [`CODE_SYMBOLS`] symbols from [`ALPHABET`] (32 symbols, 5 bits each: 60 bits),
//! written in groups of four separated by `-` (`7QKM-X2HP-9RTA`). Clients may type it in
//! either case, with or without the dashes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The symbols of a code: letters and digits that are hard to confuse (no 0, O, 1 or I).
pub const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Symbols per code: 12 symbols of 5 bits, so 2^60 codes.
pub const CODE_SYMBOLS: usize = 12;
/// The longest code text accepted before normalising (symbols, dashes and spaces).
pub const MAX_CODE_TEXT: usize = 32;

/// Parses a code typed by a person or sent by a program into its canonical form
/// (`XXXX-XXXX-XXXX`, upper case).
pub fn normalize(text: &str) -> Result<String, String> {
    let refuse = || {
        format!(
            "invalid lobby code: a code is {CODE_SYMBOLS} letters and digits (no 0, O, 1 or I), \
             like 7QKM-X2HP-9RTA"
        )
    };
    if text.len() > MAX_CODE_TEXT {
        return Err(refuse());
    }
    let mut symbols = Vec::with_capacity(CODE_SYMBOLS);
    for c in text.chars() {
        if c == '-' || c == ' ' {
            continue;
        }
        let upper = c.to_ascii_uppercase();
        if !upper.is_ascii() || !ALPHABET.contains(&(upper as u8)) {
            return Err(refuse());
        }
        symbols.push(upper as u8);
    }
    if symbols.len() != CODE_SYMBOLS {
        return Err(refuse());
    }
    Ok(grouped(&symbols))
}

fn grouped(symbols: &[u8]) -> String {
    let mut code = String::with_capacity(CODE_SYMBOLS + CODE_SYMBOLS / 4);
    for (i, symbol) in symbols.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        code.push(char::from(*symbol));
    }
    code
}

/// A new random code from the operating system's generator.
pub fn random() -> Result<String, String> {
    let mut bytes = [0u8; CODE_SYMBOLS];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a lobby code: {e}"))?;
    // 256 is a multiple of 32, so every symbol is equally likely.
    let symbols: Vec<u8> = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()])
        .collect();
    Ok(grouped(&symbols))
}

/// Codes of lobbies that closed recently, which nobody may create again until their time is
/// up: a joiner still retrying an old code must not land in an impostor's lobby.
///
/// It holds at most `capacity` codes. When a code must be forgotten early to make room, codes
/// chosen by clients are refused until the forgotten code's time would have been up, so no
/// quarantined code can ever be re-created (random codes are still handed out meanwhile).
pub struct Quarantine {
    duration: Duration,
    capacity: usize,
    until: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
    chosen_refused_until: Option<Instant>,
}

impl Quarantine {
    /// Keeps each retired code for `duration`, at most `capacity` codes at once.
    pub fn new(duration: Duration, capacity: usize) -> Quarantine {
        Quarantine {
            duration,
            capacity: capacity.max(1),
            until: HashMap::new(),
            order: VecDeque::new(),
            chosen_refused_until: None,
        }
    }

    /// The lobby with `code` just closed.
    pub fn retire(&mut self, code: &str, now: Instant) {
        if self.duration.is_zero() {
            return;
        }
        self.expire(now);
        if self.order.len() >= self.capacity {
            if let Some((until, old)) = self.order.pop_front() {
                self.until.remove(&old);
                let later = self.chosen_refused_until.map_or(until, |t| t.max(until));
                self.chosen_refused_until = Some(later);
            }
        }
        let until = now + self.duration;
        self.until.insert(code.to_string(), until);
        self.order.push_back((until, code.to_string()));
    }

    /// True while `code` may not be created.
    pub fn holds(&mut self, code: &str, now: Instant) -> bool {
        self.expire(now);
        self.until.contains_key(code)
    }

    /// True while client-chosen codes are refused because the quarantine overflowed.
    pub fn refuses_chosen(&mut self, now: Instant) -> bool {
        match self.chosen_refused_until {
            Some(until) if now < until => true,
            Some(_) => {
                self.chosen_refused_until = None;
                false
            }
            None => false,
        }
    }

    /// The number of codes held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when no code is held.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Forgets the codes whose time is up.
    pub fn expire(&mut self, now: Instant) {
        while let Some((until, _)) = self.order.front() {
            if *until > now {
                break;
            }
            if let Some((until, code)) = self.order.pop_front() {
                // A code retired twice keeps its later deadline.
                if self.until.get(&code) == Some(&until) {
                    self.until.remove(&code);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_to_grouped_upper_case() {
        assert_eq!(normalize("7qkmx2hp9rta"), Ok("7QKM-X2HP-9RTA".into()));
        assert_eq!(normalize("7QKM-X2HP-9RTA"), Ok("7QKM-X2HP-9RTA".into()));
        assert_eq!(normalize(" 7qkm x2hp-9rta "), Ok("7QKM-X2HP-9RTA".into()));
        for bad in [
            "",
            "DEMO",
            "7QKM-X2HP-9RT",
            "7QKM-X2HP-9RTAB",
            "0QKM-X2HP-9RTA",
            "IQKM-X2HP-9RTA",
            "7QKM_X2HP_9RTA",
            "7QKM-X2HP-9RTÄ",
        ] {
            let error = normalize(bad).expect_err(bad);
            assert!(error.starts_with("invalid lobby code"), "{bad}: {error}");
        }
        let long = "-".repeat(10_000);
        assert!(normalize(&long).is_err());
    }

    #[test]
    fn random_codes_have_the_documented_shape_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let code = random().expect("randomness");
            assert_eq!(normalize(&code).as_deref(), Ok(code.as_str()));
            assert_eq!(code.len(), CODE_SYMBOLS + 2);
            assert!(seen.insert(code));
        }
        // Every symbol shows up: the generator is not stuck on part of the alphabet.
        let all: String = seen.iter().flat_map(|code| code.chars()).collect();
        for symbol in ALPHABET {
            assert!(all.contains(char::from(*symbol)), "{}", char::from(*symbol));
        }
    }

    #[test]
    fn quarantine_holds_codes_for_its_duration() {
        let start = Instant::now();
        let mut quarantine = Quarantine::new(Duration::from_secs(10), 100);
        quarantine.retire("A", start);
        assert!(quarantine.holds("A", start + Duration::from_secs(9)));
        assert!(!quarantine.holds("B", start));
        assert!(!quarantine.holds("A", start + Duration::from_secs(10)));
        assert!(quarantine.is_empty());
        // Retired again while held: the later deadline counts.
        quarantine.retire("A", start);
        quarantine.retire("A", start + Duration::from_secs(5));
        assert!(quarantine.holds("A", start + Duration::from_secs(12)));
        assert!(!quarantine.holds("A", start + Duration::from_secs(15)));
    }

    #[test]
    fn overflow_refuses_chosen_codes_instead_of_forgetting_silently() {
        let start = Instant::now();
        let mut quarantine = Quarantine::new(Duration::from_secs(10), 2);
        quarantine.retire("A", start);
        quarantine.retire("B", start + Duration::from_secs(1));
        assert!(!quarantine.refuses_chosen(start + Duration::from_secs(2)));
        quarantine.retire("C", start + Duration::from_secs(2));
        assert_eq!(quarantine.len(), 2);
        assert!(!quarantine.holds("A", start + Duration::from_secs(2)));
        // A would have been held until 10 s: chosen codes are refused until then.
        assert!(quarantine.refuses_chosen(start + Duration::from_secs(9)));
        assert!(!quarantine.refuses_chosen(start + Duration::from_secs(10)));
    }

    #[test]
    fn zero_duration_disables_the_quarantine() {
        let now = Instant::now();
        let mut quarantine = Quarantine::new(Duration::ZERO, 10);
        quarantine.retire("A", now);
        assert!(!quarantine.holds("A", now));
    }
}
