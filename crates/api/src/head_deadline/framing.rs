//! Where the bytes a client sends fall: inside a request head or not.
//!
//! Follows HTTP/1.1 request framing as actix-http decodes it: a head ends at
//! its first empty line (CRLF or bare LF; empty lines before the request
//! line are skipped, as httparse does); its body is chunked
//! (`Transfer-Encoding: chunked`), runs to the end of the connection
//! (`Upgrade: websocket`, or `CONNECT` without a length), is
//! `Content-Length` bytes, or is absent. Only what decides the body's extent
//! is read from the head. Input actix rejects (it answers 400 and closes the
//! connection) may be framed differently here; a chunked body that does not
//! parse is taken for the start of the next head, so deadlines still apply.

/// The part of each head line kept: enough for the headers that frame the
/// body (longer lines are only a problem for actix, which limits heads).
const LINE_KEPT: usize = 256;

/// After some bytes: what of a request is incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing: the last request is complete.
    Idle,
    /// Its head; `fresh` when that head began in these bytes.
    InHead { fresh: bool },
    /// Its body; `fresh` when its head ended in these bytes.
    InBody { fresh: bool },
}

#[derive(Debug, Default)]
pub struct Framing {
    state: State,
}

#[derive(Debug)]
enum State {
    Head(Box<Head>),
    /// Bytes of a `Content-Length` body still to come.
    Body(u64),
    Chunked(Chunk),
    /// The body runs to the end of the connection: no head follows.
    ToEnd,
}

impl Default for State {
    fn default() -> Self {
        State::Head(Box::default())
    }
}

#[derive(Debug, Default)]
struct Head {
    /// A byte of this head has arrived.
    started: bool,
    /// The start of the current line.
    line: Vec<u8>,
    /// Lines completed, the request line included.
    lines: usize,
    connect: bool,
    chunked: bool,
    websocket: bool,
    length: Option<u64>,
}

#[derive(Debug)]
enum Chunk {
    /// The chunk-size line; `ext` once past its digits.
    Size {
        size: u64,
        digits: bool,
        ext: bool,
    },
    Data(u64),
    /// The line end after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, up to an empty line.
    Trailer {
        empty: bool,
    },
}

impl Framing {
    /// Account for `bytes`, the next ones the client sent.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Progress {
        // Whether the head or body in progress began in these bytes.
        let mut fresh = false;
        while !bytes.is_empty() {
            let used = match &mut self.state {
                State::Head(head) => {
                    fresh |= !head.started;
                    head.started = true;
                    let (used, next) = head.feed(bytes);
                    if let Some(next) = next {
                        self.state = next;
                        fresh = true;
                    }
                    used
                }
                State::Body(left) => {
                    let used = (*left).min(bytes.len() as u64);
                    *left -= used;
                    if *left == 0 {
                        self.state = State::default();
                    }
                    used as usize
                }
                State::Chunked(chunk) => {
                    let (used, done) = chunk.feed(bytes);
                    if done {
                        self.state = State::default();
                    }
                    used
                }
                State::ToEnd => bytes.len(),
            };
            bytes = &bytes[used..];
        }
        match &self.state {
            State::Head(head) if head.started => Progress::InHead { fresh },
            State::Head(_) => Progress::Idle,
            State::Body(_) | State::Chunked(_) | State::ToEnd => Progress::InBody { fresh },
        }
    }
}

impl Head {
    /// Take bytes up to the end of the current line; the state that follows
    /// when that line ends the head.
    fn feed(&mut self, bytes: &[u8]) -> (usize, Option<State>) {
        let Some(lf) = bytes.iter().position(|&b| b == b'\n') else {
            self.keep(bytes);
            return (bytes.len(), None);
        };
        self.keep(&bytes[..lf]);
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let next = if line.is_empty() {
            // Empty lines before the request line are skipped.
            (self.lines > 0).then(|| self.body())
        } else {
            if self.lines == 0 {
                // Methods are case-sensitive: `connect` is not CONNECT.
                self.connect = line.starts_with(b"CONNECT ");
            } else {
                self.header(&line);
            }
            self.lines += 1;
            line.clear();
            self.line = line;
            None
        };
        (lf + 1, next)
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = LINE_KEPT.saturating_sub(self.line.len());
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn header(&mut self, line: &[u8]) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            self.length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            self.websocket = value.eq_ignore_ascii_case(b"websocket");
        }
    }

    /// What follows the head, in actix-http's order of precedence.
    fn body(&self) -> State {
        if self.chunked {
            State::Chunked(Chunk::size())
        } else if self.websocket {
            State::ToEnd
        } else if let Some(n @ 1..) = self.length {
            State::Body(n)
        } else if self.connect {
            State::ToEnd
        } else {
            State::default()
        }
    }
}

impl Chunk {
    fn size() -> Chunk {
        Chunk::Size {
            size: 0,
            digits: false,
            ext: false,
        }
    }

    /// Bytes used, and whether the body ended (or did not parse).
    fn feed(&mut self, bytes: &[u8]) -> (usize, bool) {
        if let Chunk::Data(left) = self {
            let used = (*left).min(bytes.len() as u64);
            *left -= used;
            if *left == 0 {
                *self = Chunk::DataEnd;
            }
            return (used as usize, false);
        }
        let b = bytes[0];
        let done = match self {
            Chunk::Size { size, digits, ext } => match (b, (b as char).to_digit(16)) {
                (b'\n', _) if !*digits => true,
                (b'\n', _) if *size == 0 => {
                    *self = Chunk::Trailer { empty: true };
                    false
                }
                (b'\n', _) => {
                    *self = Chunk::Data(*size);
                    false
                }
                (_, Some(d)) if !*ext => match size.checked_mul(16) {
                    Some(s) => {
                        *size = s + u64::from(d);
                        *digits = true;
                        false
                    }
                    None => true,
                },
                _ => {
                    *ext = true;
                    false
                }
            },
            Chunk::DataEnd => {
                if b == b'\n' {
                    *self = Chunk::size();
                }
                false
            }
            Chunk::Trailer { empty } => match b {
                b'\n' if *empty => true,
                b'\n' => {
                    *empty = true;
                    false
                }
                b'\r' => false,
                _ => {
                    *empty = false;
                    false
                }
            },
            Chunk::Data(_) => unreachable!("handled above"),
        };
        (1, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GET: &[u8] = b"GET /v1.0/pods HTTP/1.1\r\nHost: api\r\n\r\n";
    const POST: &[u8] =
        b"POST /v1.0/pods HTTP/1.1\r\nHost: api\r\ncontent-length: 8\r\n\r\n{\"a\":1}\n";
    const CHUNKED: &[u8] =
        b"POST /v1.0/pods HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: Chunked\r\n\r\n\
        4;ext=1\r\n\r\n\r\n\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n";

    fn fed(bytes: &[u8]) -> Progress {
        Framing::default().feed(bytes)
    }

    #[test]
    fn a_head_is_incomplete_until_its_empty_line() {
        assert_eq!(fed(b""), Progress::Idle);
        for cut in 1..GET.len() {
            assert_eq!(fed(&GET[..cut]), Progress::InHead { fresh: true }, "{cut}");
        }
        assert_eq!(fed(GET), Progress::Idle);
        assert_eq!(fed(b"GET / HTTP/1.1\nHost: a\n\n"), Progress::Idle);
    }

    #[test]
    fn empty_lines_before_a_request_start_its_head() {
        assert_eq!(fed(b"\r\n\r\n\n"), Progress::InHead { fresh: true });
        assert_eq!(fed(&[b"\r\n\r\n".as_slice(), GET].concat()), Progress::Idle);
    }

    #[test]
    fn a_body_ends_where_its_head_says() {
        for request in [POST, CHUNKED] {
            let head = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            // Byte by byte: whatever the body holds, it ends where it says.
            let mut f = Framing::default();
            for (at, &b) in request.iter().enumerate() {
                let progress = f.feed(&[b]);
                let expected = match at + 1 {
                    1 => Progress::InHead { fresh: true },
                    n if n < head => Progress::InHead { fresh: false },
                    n if n == head => Progress::InBody { fresh: true },
                    n if n < request.len() => Progress::InBody { fresh: false },
                    _ => Progress::Idle,
                };
                assert_eq!(progress, expected, "after {} bytes", at + 1);
            }
            assert_eq!(f.feed(b"G"), Progress::InHead { fresh: true });
        }
    }

    #[test]
    fn pipelined_requests_are_told_apart() {
        let mut f = Framing::default();
        assert_eq!(
            f.feed(&[POST, &GET[..5]].concat()),
            Progress::InHead { fresh: true }
        );
        assert_eq!(f.feed(&GET[5..9]), Progress::InHead { fresh: false });
        // The rest of that head, and the start of another.
        assert_eq!(
            f.feed(&[&GET[9..], &GET[..3]].concat()),
            Progress::InHead { fresh: true }
        );
        assert_eq!(
            f.feed(&[&GET[3..], &POST[..POST.len() - 2]].concat()),
            Progress::InBody { fresh: true }
        );
        assert_eq!(f.feed(&POST[POST.len() - 2..]), Progress::Idle);
    }

    #[test]
    fn bodies_to_the_end_of_the_connection() {
        for head in [
            b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\n\r\n".as_slice(),
            b"CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let mut f = Framing::default();
            assert_eq!(f.feed(head), Progress::InBody { fresh: true });
            assert_eq!(f.feed(GET), Progress::InBody { fresh: false });
        }
        // An empty CONNECT body does not count as a length.
        let mut f = Framing::default();
        f.feed(b"connect a:1 HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(f.feed(b"G"), Progress::InHead { fresh: true });
    }

    #[test]
    fn a_chunked_body_that_does_not_parse_is_taken_for_a_head() {
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        for bad in [b"\r\nx".as_slice(), b"fffffffffffffffff\r\n"] {
            let mut f = Framing::default();
            f.feed(head);
            assert_eq!(f.feed(bad), Progress::InHead { fresh: true }, "{bad:?}");
        }
    }

    #[test]
    fn long_lines_are_cut_where_kept() {
        let mut f = Framing::default();
        let padded = format!("X-Pad: {}\r\n", "p".repeat(10 * LINE_KEPT));
        f.feed(b"GET / HTTP/1.1\r\n");
        f.feed(padded.as_bytes());
        assert_eq!(f.feed(b"Host: a\r\n\r\n"), Progress::Idle);
        assert!(matches!(&f.state, State::Head(h) if h.line.capacity() <= 2 * LINE_KEPT));
    }

    proptest! {
        /// However the bytes are split, the framing ends the same, and it
        /// never panics on garbage.
        #[test]
        fn splits_do_not_matter(
            garbage in proptest::collection::vec(any::<u8>(), 0..200),
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let stream = [POST, CHUNKED, &garbage, GET].concat();
            let whole = Framing::default().feed(&stream);
            let mut pieces = Framing::default();
            let mut cuts = cuts;
            cuts.push(stream.len());
            cuts.sort_unstable();
            let mut at = 0;
            let mut last = Progress::Idle;
            for cut in cuts {
                let cut = cut.min(stream.len());
                if cut > at {
                    last = pieces.feed(&stream[at..cut]);
                    at = cut;
                }
            }
            let part = |p: Progress| match p {
                Progress::Idle => 0,
                Progress::InHead { .. } => 1,
                Progress::InBody { .. } => 2,
            };
            prop_assert_eq!(part(whole), part(last));
        }
    }
}
