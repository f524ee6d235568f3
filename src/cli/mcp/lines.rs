//! Reading newline-delimited messages without trusting their length.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line of input, without its newline.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// The line's bytes (not necessarily UTF-8).
    Bytes(Vec<u8>),
    /// The line was longer than the limit; it was skipped up to its newline.
    TooLong,
}

/// Reads lines of at most `max` bytes. A longer line is discarded as it streams in,
/// so memory stays within `max` plus the reader's buffer whatever the input.
pub(super) struct LineReader<R> {
    input: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(super) fn new(input: R, max: usize) -> Self {
        Self { input, max }
    }

    /// The next line, or `None` at the end of input. A last line without a newline
    /// counts as a line.
    pub(super) async fn next(&mut self) -> std::io::Result<Option<Line>> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let chunk = self.input.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(match (too_long, line.is_empty()) {
                    (true, _) => Some(Line::TooLong),
                    (false, true) => None,
                    (false, false) => Some(Line::Bytes(line)),
                });
            }
            let newline = chunk.iter().position(|&b| b == b'\n');
            let part = &chunk[..newline.unwrap_or(chunk.len())];
            if !too_long && line.len() + part.len() > self.max {
                too_long = true;
                line = Vec::new();
            }
            if !too_long {
                line.extend_from_slice(part);
            }
            let used = newline.map_or(chunk.len(), |at| at + 1);
            self.input.consume(used);
            if newline.is_some() {
                return Ok(Some(if too_long { Line::TooLong } else { Line::Bytes(line) }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], max: usize, buffer: usize) -> Vec<Line> {
        let mut reader = LineReader::new(tokio::io::BufReader::with_capacity(buffer, input), max);
        let mut lines = Vec::new();
        while let Some(line) = reader.next().await.unwrap() {
            lines.push(line);
        }
        lines
    }

    #[tokio::test]
    async fn lines_over_the_limit_are_skipped_whole() {
        let input = b"ok\n0123456789\n\xff\xfe\n\n12345\nlast";
        for buffer in [1, 3, 64] {
            let lines = read_all(input, 5, buffer).await;
            assert_eq!(
                lines,
                [
                    Line::Bytes(b"ok".to_vec()),
                    Line::TooLong,
                    Line::Bytes(b"\xff\xfe".to_vec()),
                    Line::Bytes(vec![]),
                    Line::Bytes(b"12345".to_vec()),
                    Line::Bytes(b"last".to_vec()),
                ],
                "buffer {buffer}"
            );
        }
        assert_eq!(read_all(b"too long at the end", 5, 4).await, [Line::TooLong]);
        assert_eq!(read_all(b"", 5, 4).await, []);
    }
}
