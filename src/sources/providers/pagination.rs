//! Cursor pagination (`has_more` + `next_page` sent back as `page`), as Anthropic's and
//! OpenAI's reports use it, with a page cap and a guard against a cursor seen before: a
//! provider bug must fail the poll, never loop it.

use std::collections::HashSet;

use reqwest::header::HeaderMap;

use super::http::{Http, reason};
use super::json::AnswerError;
use crate::sources::SourceError;

/// One parsed page: its items and where the next one is.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
    pub next_page: Option<String>,
}

/// Decides whether to follow the next cursor.
#[derive(Debug)]
pub struct Pager {
    max_pages: u32,
    pages: u32,
    seen: HashSet<String>,
}

impl Pager {
    pub fn new(max_pages: u32) -> Self {
        Pager {
            max_pages,
            pages: 0,
            seen: HashSet::new(),
        }
    }

    /// After a page: `Ok(Some(cursor))` to fetch next, `Ok(None)` when done.
    pub fn next(
        &mut self,
        has_more: bool,
        next_page: Option<String>,
        what: &str,
    ) -> Result<Option<String>, SourceError> {
        self.pages += 1;
        if !has_more {
            return Ok(None);
        }
        let Some(cursor) = next_page.filter(|c| !c.is_empty()) else {
            return Err(SourceError::new(
                reason::PAGINATION,
                format!("{what}: has_more is true but next_page is missing"),
            ));
        };
        if !self.seen.insert(cursor.clone()) {
            return Err(SourceError::new(
                reason::PAGINATION,
                format!(
                    "{what}: the provider sent the same next_page cursor twice (after page {})",
                    self.pages
                ),
            ));
        }
        if self.pages >= self.max_pages {
            return Err(SourceError::new(
                reason::PAGINATION,
                format!(
                    "{what}: more than max_pages ({}) pages; raise max_pages or shorten trailing_days",
                    self.max_pages
                ),
            ));
        }
        Ok(Some(cursor))
    }
}

/// Fetches every page of a listing. `url` carries the query of the first page; later pages
/// add `page=<cursor>`. `parse` turns a body into a page or says why it cannot.
pub async fn fetch_all<T>(
    http: &Http,
    url: &reqwest::Url,
    headers: &HeaderMap,
    what: &str,
    max_pages: u32,
    parse: impl Fn(&[u8]) -> Result<Page<T>, AnswerError>,
) -> Result<Vec<T>, SourceError> {
    let mut pager = Pager::new(max_pages);
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut u = url.clone();
        if let Some(c) = &cursor {
            u.query_pairs_mut().append_pair("page", c);
        }
        let body = http.get(&u, headers, what).await?;
        let page = parse(&body).map_err(|e| e.in_answer_of(what))?;
        items.extend(page.items);
        match pager.next(page.has_more, page.next_page, what)? {
            Some(c) => cursor = Some(c),
            None => return Ok(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_new_cursors_and_stops() {
        let mut p = Pager::new(3);
        assert_eq!(
            p.next(true, Some("a".into()), "x").unwrap(),
            Some("a".into())
        );
        assert_eq!(
            p.next(true, Some("b".into()), "x").unwrap(),
            Some("b".into())
        );
        assert_eq!(p.next(false, Some("c".into()), "x").unwrap(), None);
    }

    #[test]
    fn repeated_cursor_missing_cursor_and_cap_fail() {
        let mut p = Pager::new(10);
        p.next(true, Some("a".into()), "x").unwrap();
        let e = p.next(true, Some("a".into()), "x").unwrap_err();
        assert_eq!(e.reason, reason::PAGINATION);
        assert!(e.message.contains("same next_page"), "{e}");
        let e = Pager::new(10).next(true, None, "x").unwrap_err();
        assert!(e.message.contains("missing"), "{e}");
        let mut p = Pager::new(2);
        p.next(true, Some("a".into()), "x").unwrap();
        let e = p.next(true, Some("b".into()), "x").unwrap_err();
        assert!(e.message.contains("max_pages (2)"), "{e}");
    }
}
