//! Sentry's cursor paging: every list answers a page and a `Link` header
//! with a `previous` and a `next` link, each saying whether it has results:
//!
//! ```text
//! Link: <https://h/api/0/…/?cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1",
//!       <https://h/api/0/…/?cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0"
//! ```
//!
//! The links keep the request's other query parameters, so clients follow
//! them as given. Issues and events page by keyset (the last item's sort
//! value and id); short lists (organizations, members, tags, …) by offset,
//! in Sentry's `value:offset:is_prev` form.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::error::ApiError;

/// The page size when the request names none.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page.
pub const MAX_LIMIT: u32 = 100;

/// Where a list is: its URL without a query, and the request's query.
pub struct ListUrl {
    /// The public base URL, `https://host`.
    pub base: String,
    /// `https://host/api/0/…/`
    pub url: String,
    /// The raw query of the request, if any.
    pub query: Option<String>,
}

impl ListUrl {
    /// The list's URL with `cursor` in place of the request's cursor.
    fn with_cursor(&self, cursor: &str) -> String {
        let kept: Vec<&str> = self
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| pair.split('=').next() != Some("cursor"))
            .collect();
        let mut out = self.url.clone();
        out.push('?');
        for pair in kept {
            out.push_str(pair);
            out.push('&');
        }
        out.push_str("cursor=");
        out.push_str(cursor);
        out
    }

    /// The `Link` header: `prev`/`next` are the cursors of pages that exist.
    pub fn link_header(&self, prev: Option<&str>, next: Option<&str>) -> String {
        let link = |rel: &str, cursor: Option<&str>, empty: &str| {
            let (cursor, results) = match cursor {
                Some(c) => (c, true),
                None => (empty, false),
            };
            format!(
                "<{}>; rel=\"{rel}\"; results=\"{results}\"; cursor=\"{cursor}\"",
                self.with_cursor(cursor)
            )
        };
        format!(
            "{}, {}",
            link("previous", prev, "0:0:1"),
            link("next", next, "0:0:0")
        )
    }

    /// A JSON list with its `Link` header.
    pub fn respond<T: Serialize>(
        &self,
        items: Vec<T>,
        prev: Option<&str>,
        next: Option<&str>,
    ) -> Response {
        let mut response = Json(items).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.link_header(prev, next)) {
            response.headers_mut().insert(header::LINK, v);
        }
        response
    }
}

/// `cursor` and page size of a list paged by offset.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// From a `Link` header.
    pub cursor: Option<String>,
    /// Page size (1 to 100, default 100).
    pub per_page: Option<u32>,
}

impl PageParams {
    pub fn limit(&self) -> usize {
        self.per_page.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize
    }

    /// The offset a cursor `value:offset:is_prev` names (0 without one).
    pub fn offset(&self) -> Result<usize, ApiError> {
        let Some(cursor) = self.cursor.as_deref() else {
            return Ok(0);
        };
        let mut parts = cursor.split(':');
        let (_value, offset, is_prev) = (parts.next(), parts.next(), parts.next());
        let offset: usize = offset
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| ApiError::BadRequest(format!("invalid cursor {cursor:?}")))?;
        // a previous link names the offset of the page it leads to
        match is_prev {
            None | Some("0") | Some("1") => Ok(offset),
            Some(_) => Err(ApiError::BadRequest(format!("invalid cursor {cursor:?}"))),
        }
    }

    /// A page the store fetched itself: `items` are up to `limit() + 1` rows from `offset()`,
    /// the extra row only telling that a next page exists.
    pub fn respond_window<T: Serialize>(&self, mut items: Vec<T>, at: &ListUrl) -> Response {
        // offset() was checked by the caller before it fetched
        let offset = self.offset().unwrap_or(0);
        let limit = self.limit();
        let more = items.len() > limit;
        items.truncate(limit);
        let next = more.then(|| format!("0:{}:0", offset + limit));
        let prev = (offset > 0).then(|| format!("0:{}:1", offset.saturating_sub(limit)));
        at.respond(items, prev.as_deref(), next.as_deref())
    }

    /// One page of a whole list, answered with its `Link` header.
    pub fn respond<T: Serialize>(&self, items: Vec<T>, at: &ListUrl) -> Result<Response, ApiError> {
        let offset = self.offset()?;
        let window = items
            .into_iter()
            .skip(offset)
            .take(self.limit() + 1)
            .collect();
        Ok(self.respond_window(window, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(query: Option<&str>) -> ListUrl {
        ListUrl {
            base: "http://h".into(),
            url: "http://h/api/0/x/".into(),
            query: query.map(str::to_string),
        }
    }

    #[test]
    fn links_keep_the_query_but_not_the_cursor() {
        let link = at(Some("query=is%3Aresolved&cursor=5:6:0&id=1&id=2"))
            .link_header(None, Some("9:10:0"));
        assert_eq!(
            link,
            "<http://h/api/0/x/?query=is%3Aresolved&id=1&id=2&cursor=0:0:1>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", \
             <http://h/api/0/x/?query=is%3Aresolved&id=1&id=2&cursor=9:10:0>; rel=\"next\"; results=\"true\"; cursor=\"9:10:0\""
        );
        let link = at(None).link_header(Some("0:0:1"), None);
        assert!(
            link.starts_with(
                "<http://h/api/0/x/?cursor=0:0:1>; rel=\"previous\"; results=\"true\""
            )
        );
        assert!(link.ends_with("rel=\"next\"; results=\"false\"; cursor=\"0:0:0\""));
    }

    #[test]
    fn a_window_with_an_extra_row_has_a_next_page() {
        let page = |cursor: Option<&str>| PageParams {
            cursor: cursor.map(str::to_string),
            per_page: Some(2),
        };
        let link = |r: &Response| r.headers()[header::LINK].to_str().unwrap().to_string();
        let full = page(None).respond_window(vec![1, 2, 3], &at(None));
        assert!(link(&full).contains("cursor=0:2:0>; rel=\"next\"; results=\"true\""));
        assert!(link(&full).contains("rel=\"previous\"; results=\"false\""));
        let last = page(Some("0:2:0")).respond_window(vec![3], &at(None));
        assert!(link(&last).contains("rel=\"next\"; results=\"false\""));
        assert!(link(&last).contains("cursor=0:0:1>; rel=\"previous\"; results=\"true\""));
    }

    #[test]
    fn offsets_come_from_cursors() {
        let p = |c: &str| PageParams {
            cursor: Some(c.into()),
            per_page: None,
        };
        assert_eq!(p("0:200:0").offset().unwrap(), 200);
        assert_eq!(p("0:100:1").offset().unwrap(), 100);
        assert!(p("0:x:0").offset().is_err());
        assert!(p("nonsense").offset().is_err());
        assert_eq!(PageParams::default().offset().unwrap(), 0);
        assert_eq!(
            PageParams {
                cursor: None,
                per_page: Some(1000)
            }
            .limit(),
            100
        );
    }
}
