//! The UI's routes, recorded as they are registered. axum's `Router` does
//! not list its routes, so every part of the UI adds its routes through
//! [`UiRoutes`], and the table it keeps is what a test walks to send each
//! state-changing route a forged request (`tests/it/ui_csrf.rs`).

use axum::Router;
use axum::routing::MethodRouter;

use crate::state::AppState;

/// How a route's state-changing requests are guarded against forgery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Signed-in users' forms: the session's CSRF token
    /// ([`CsrfForm`](super::CsrfForm)).
    Session,
    /// Forms of visitors without a session: the Origin header
    /// ([`VisitorForm`](super::VisitorForm)).
    Visitor,
}

/// One registered path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiRoute {
    /// As registered, with `{parameters}`.
    pub path: &'static str,
    pub guard: Guard,
}

/// A router that remembers its paths.
#[derive(Default)]
pub struct UiRoutes {
    router: Router<AppState>,
    table: Vec<UiRoute>,
}

impl UiRoutes {
    pub fn new() -> UiRoutes {
        UiRoutes::default()
    }

    /// A route whose forms (if any) are signed-in users' forms.
    pub fn route(self, path: &'static str, methods: MethodRouter<AppState>) -> UiRoutes {
        self.add(path, methods, Guard::Session)
    }

    /// A route whose forms are sent by visitors without a session.
    pub fn visitor_route(self, path: &'static str, methods: MethodRouter<AppState>) -> UiRoutes {
        self.add(path, methods, Guard::Visitor)
    }

    fn add(
        mut self,
        path: &'static str,
        methods: MethodRouter<AppState>,
        guard: Guard,
    ) -> UiRoutes {
        self.router = self.router.route(path, methods);
        self.table.push(UiRoute { path, guard });
        self
    }

    pub fn merge(mut self, other: UiRoutes) -> UiRoutes {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }

    pub fn table(&self) -> &[UiRoute] {
        &self.table
    }
}
