//! The `--inputs` file: one client per line, whitespace-separated integers below the
//! modulus, every line the same length.
//!
//! It is read as a stream with bounds derived from the session's shape, so a huge or
//! endless file (`/dev/zero`) is refused after a few bytes, never read into memory: a line
//! holds at most 21 bytes a value (20 digits and a separator) and a newline, at most `D`
//! values, and the file at most `N` lines, where `N` and `D` are `--clients` and `--dim`
//! when given, otherwise what the simulator's memory allowance admits.

use std::io::{BufRead, BufReader};
use std::path::Path;

use secagg::Modulus;

use super::{Args, MAX_SIMULATED_VECTOR_BYTES, UsageError};

/// Bytes a value may take on a line: the 20 digits of `2^64 - 1` and a separator.
const BYTES_PER_VALUE: usize = 21;
/// The longest token worth parsing: a `u128` has at most 39 digits, so anything longer is
/// either not a number or not below any modulus.
const MAX_TOKEN: usize = 40;

/// The shape the flags allow: `--clients` and `--dim` if given, and the clients run at once
/// (they share the memory allowance with the file's rows).
#[derive(Debug, Clone, Copy)]
pub(super) struct Expected {
    clients: Option<usize>,
    dim: Option<usize>,
    threads: usize,
}

/// The expected shape of the inputs file from the flags.
pub(super) fn expected(args: &Args, threads: usize) -> Expected {
    Expected {
        clients: args.clients,
        dim: args.dim,
        threads,
    }
}

impl Expected {
    /// Elements the memory allowance admits besides `rows` held rows: the server's two
    /// accumulators and three vectors per client in flight, all of the line length.
    fn max_elements_per_line(self, rows: usize) -> usize {
        let vectors = 2u128 + 3 * self.threads as u128 + rows as u128;
        usize::try_from(MAX_SIMULATED_VECTOR_BYTES / 8 / vectors).unwrap_or(usize::MAX)
    }

    /// The most rows of `d` values the memory allowance admits.
    fn max_rows(self, d: usize) -> usize {
        let elements = MAX_SIMULATED_VECTOR_BYTES / 8 / (d.max(1) as u128);
        let rows = elements.saturating_sub(2 + 3 * self.threads as u128);
        usize::try_from(rows).unwrap_or(usize::MAX)
    }
}

/// Reads and checks an inputs file.
pub(super) fn read(
    path: &Path,
    modulus: Modulus,
    expected: &Expected,
) -> Result<Vec<Vec<u64>>, UsageError> {
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| UsageError(format!("cannot read {shown}: {e}")))?;
    parse(BufReader::new(file), modulus, *expected).map_err(|e| match e {
        ReadError::Io(e) => UsageError(format!("cannot read {shown}: {e}")),
        ReadError::Content(why) => UsageError(format!("{shown}: {why}")),
    })
}

/// Why a file was refused.
#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    Content(String),
}

impl From<String> for ReadError {
    fn from(why: String) -> Self {
        Self::Content(why)
    }
}

/// Parses an inputs file as a stream. Errors name the line (from 1) and the fault.
fn parse(
    mut reader: impl BufRead,
    modulus: Modulus,
    expected: Expected,
) -> Result<Vec<Vec<u64>>, ReadError> {
    let mut state = Parser::new(modulus, expected);
    loop {
        let chunk = reader.fill_buf().map_err(ReadError::Io)?;
        if chunk.is_empty() {
            break;
        }
        for &byte in chunk {
            state.byte(byte)?;
        }
        let used = chunk.len();
        reader.consume(used);
    }
    Ok(state.finish()?)
}

/// The streaming parser's state.
#[derive(Debug)]
struct Parser {
    modulus: Modulus,
    expected: Expected,
    /// The current line, from 1.
    line: usize,
    /// Bytes of the current line so far.
    line_bytes: usize,
    token: Vec<u8>,
    row: Vec<u64>,
    rows: Vec<Vec<u64>>,
    /// The first line without values, reported once a later line has values.
    empty_line: Option<usize>,
}

impl Parser {
    fn new(modulus: Modulus, expected: Expected) -> Self {
        Self {
            modulus,
            expected,
            line: 1,
            line_bytes: 0,
            token: Vec::with_capacity(MAX_TOKEN + 1),
            row: Vec::new(),
            rows: Vec::new(),
            empty_line: None,
        }
    }

    /// The most values the current line may hold.
    fn max_values(&self) -> usize {
        match (self.expected.dim, self.rows.first()) {
            (Some(d), _) => d,
            (None, Some(first)) => first.len(),
            (None, None) => self.expected.max_elements_per_line(1),
        }
    }

    /// One byte of the file.
    fn byte(&mut self, byte: u8) -> Result<(), String> {
        self.line_bytes = self.line_bytes.saturating_add(1);
        let max_bytes = self
            .max_values()
            .saturating_mul(BYTES_PER_VALUE)
            .saturating_add(1);
        if self.line_bytes > max_bytes {
            return Err(format!(
                "line {}: longer than the {max_bytes} bytes that {} values can take \
                 ({BYTES_PER_VALUE} bytes each and a newline)",
                self.line,
                self.max_values()
            ));
        }
        if byte == b'\n' {
            self.end_token()?;
            self.end_line()
        } else if byte.is_ascii_whitespace() {
            self.end_token()
        } else {
            self.token.push(byte);
            if self.token.len() > MAX_TOKEN {
                return Err(self.bad_token());
            }
            Ok(())
        }
    }

    /// Parses the token just ended, if any, into the current row.
    fn end_token(&mut self) -> Result<(), String> {
        if self.token.is_empty() {
            return Ok(());
        }
        if let Some(empty) = self.empty_line {
            return Err(format!(
                "line {empty}: empty line: every line holds one client's vector"
            ));
        }
        if self.row.len() >= self.max_values() {
            return Err(self.too_many_values());
        }
        let line = self.line;
        let text = core::str::from_utf8(&self.token)
            .map_err(|_| format!("line {line}: not valid UTF-8 text"))?;
        let value = parse_value(text, self.modulus).map_err(|why| format!("line {line}: {why}"))?;
        self.row.push(value);
        self.token.clear();
        Ok(())
    }

    /// Ends the current line: checks its length against the first and the row count.
    fn end_line(&mut self) -> Result<(), String> {
        let line = self.line;
        self.line = self.line.saturating_add(1);
        self.line_bytes = 0;
        if self.row.is_empty() {
            self.empty_line.get_or_insert(line);
            return Ok(());
        }
        if let Some(first) = self.rows.first().filter(|f| f.len() != self.row.len()) {
            return Err(format!(
                "line {line}: ragged: {} values, but line 1 has {}",
                self.row.len(),
                first.len()
            ));
        }
        self.check_rows()?;
        let row = core::mem::take(&mut self.row);
        self.rows.push(row);
        Ok(())
    }

    /// Refuses a row past `--clients` or past what memory admits.
    fn check_rows(&self) -> Result<(), String> {
        let have = self.rows.len();
        match self.expected.clients {
            Some(c) if have >= c => Err(format!(
                "--clients {c} disagrees with the inputs file, which has more than {c} lines \
                 (one per client)"
            )),
            Some(_) => Ok(()),
            None if have >= self.expected.max_rows(self.row.len()) => Err(format!(
                "more than {have} lines of {} values: the simulator allows {} GiB of memory \
                 for vectors",
                self.row.len(),
                MAX_SIMULATED_VECTOR_BYTES >> 30
            )),
            None => Ok(()),
        }
    }

    /// The file has ended.
    fn finish(mut self) -> Result<Vec<Vec<u64>>, String> {
        self.end_token()?;
        if !self.row.is_empty() || self.line_bytes > 0 {
            self.end_line()?;
        }
        if self.rows.is_empty() {
            return Err("empty file: expected one line of integers per client".into());
        }
        if let Some(empty) = self.empty_line {
            return Err(format!(
                "line {empty}: empty line: every line holds one client's vector"
            ));
        }
        Ok(self.rows)
    }

    /// A line with more values than allowed.
    fn too_many_values(&self) -> String {
        let max = self.max_values();
        match self.expected.dim {
            Some(d) => format!(
                "--dim {d} disagrees with the inputs file: line {} holds more than {d} values",
                self.line
            ),
            None if self.rows.is_empty() => format!(
                "line 1: more than {max} values: the simulator allows {} GiB of memory for \
                 vectors",
                MAX_SIMULATED_VECTOR_BYTES >> 30
            ),
            None => format!(
                "line {}: ragged: more than {max} values, but line 1 has {max}",
                self.line
            ),
        }
    }

    /// A token too long to be a value below any modulus.
    fn bad_token(&self) -> String {
        let shown = String::from_utf8_lossy(&self.token);
        let more = "...";
        let line = self.line;
        if self.token.iter().all(u8::is_ascii_digit) {
            let m = self.modulus.value();
            format!("line {line}: value {shown}{more} is not below the modulus {m}")
        } else {
            format!(
                "line {line}: '{}{more}' is not an unsigned integer",
                shown.escape_debug()
            )
        }
    }
}

/// Parses one value below the modulus.
fn parse_value(token: &str, modulus: Modulus) -> Result<u64, String> {
    let m = modulus.value();
    let value = match token.parse::<u128>() {
        Ok(v) => v,
        Err(_) if token.bytes().all(|b| b.is_ascii_digit()) => u128::MAX,
        Err(_) => return Err(format!("'{token}' is not an unsigned integer")),
    };
    if value >= m {
        return Err(format!("value {token} is not below the modulus {m}"));
    }
    u64::try_from(value).map_err(|_| format!("value {token} is not below the modulus {m}"))
}
