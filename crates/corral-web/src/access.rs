//! Who may see and change what: the one place pages, the API and exports ask.
//!
//! - Owners and admins of an organization see all its projects; a member
//!   sees the projects of their teams and the projects of no team.
//! - Users of other organizations see nothing: callers answer 404, never
//!   403, so existence does not leak.
//! - Superusers see and manage everything.
//! - API tokens narrow this further by their scopes (see `api::auth`).

use std::collections::{HashMap, HashSet};

use corral_core::model::{OrgId, Organization, Project, ProjectId, Role, TeamId, User};
use corral_core::{SharedStore, StoreError, StoreResult};

/// What a user may do beyond reading, by the least role that may do it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Resolve, ignore, assign, comment, bulk-change issues of visible projects.
    TriageIssues,
    /// Delete issues.
    DeleteIssues,
    /// Create and change projects, DSN keys, teams; invite members or admins.
    ManageProjects,
    /// Change the organization and members of any role.
    ManageOrganization,
}

impl Action {
    pub fn least_role(self) -> Role {
        match self {
            Action::TriageIssues => Role::Member,
            Action::DeleteIssues | Action::ManageProjects => Role::Admin,
            Action::ManageOrganization => Role::Owner,
        }
    }
}

/// Refusal: `NotFound` when the caller may not even know the thing exists.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("your role does not allow this")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A user's access, read once per request.
#[derive(Clone, Debug)]
pub struct Access {
    pub user: User,
    roles: HashMap<OrgId, Role>,
    teams: HashSet<TeamId>,
    /// Per organization the user belongs to: project -> its teams.
    project_teams: HashMap<OrgId, HashMap<ProjectId, Vec<TeamId>>>,
}

impl Access {
    /// Reads the user's memberships, teams and the team links of their
    /// organizations' projects.
    pub async fn load(store: &SharedStore, user: User) -> StoreResult<Access> {
        let memberships = store.memberships_of_user(user.id).await?;
        let teams = store.teams_of_user(user.id).await?;
        let mut roles = HashMap::new();
        let mut project_teams = HashMap::new();
        for m in memberships {
            roles.insert(m.org_id, m.role);
            if m.role == Role::Member {
                let mut links: HashMap<ProjectId, Vec<TeamId>> = HashMap::new();
                for (project, team) in store.project_team_map(m.org_id).await? {
                    links.entry(project).or_default().push(team);
                }
                project_teams.insert(m.org_id, links);
            }
        }
        Ok(Access {
            user,
            roles,
            teams: teams.into_iter().map(|t| t.id).collect(),
            project_teams,
        })
    }

    /// The user's role in an organization (superusers act as owners).
    pub fn role_in(&self, org_id: OrgId) -> Option<Role> {
        if self.user.is_superuser {
            return Some(Role::Owner);
        }
        self.roles.get(&org_id).copied()
    }

    pub fn is_member_of(&self, org_id: OrgId) -> bool {
        self.role_in(org_id).is_some()
    }

    pub fn can_see_org(&self, org: &Organization) -> bool {
        self.is_member_of(org.id)
    }

    pub fn can_see_project(&self, project: &Project) -> bool {
        match self.role_in(project.org_id) {
            None => false,
            Some(Role::Owner | Role::Admin) => true,
            Some(Role::Member) => match self
                .project_teams
                .get(&project.org_id)
                .and_then(|links| links.get(&project.id))
            {
                // a project of no team is open to every member
                None => true,
                Some(teams) => teams.iter().any(|t| self.teams.contains(t)),
            },
        }
    }

    /// Whether the user may do `action` in the organization.
    pub fn can(&self, action: Action, org_id: OrgId) -> bool {
        self.role_in(org_id)
            .is_some_and(|role| role >= action.least_role())
    }

    /// `Ok` when allowed; `NotFound` for outsiders, `Forbidden` for members
    /// whose role is too low.
    pub fn require(&self, action: Action, org_id: OrgId) -> Result<(), Denied> {
        match self.role_in(org_id) {
            None => Err(Denied::NotFound("organization")),
            Some(role) if role >= action.least_role() => Ok(()),
            Some(_) => Err(Denied::Forbidden),
        }
    }

    /// May the user give someone `role`? Admins invite members and admins;
    /// only owners make owners.
    pub fn can_grant(&self, org_id: OrgId, role: Role) -> bool {
        match self.role_in(org_id) {
            Some(Role::Owner) => true,
            Some(Role::Admin) => role <= Role::Admin,
            _ => false,
        }
    }

    /// The organizations the user belongs to (all for a superuser).
    pub async fn organizations(&self, store: &SharedStore) -> StoreResult<Vec<Organization>> {
        let all = store.list_organizations().await?;
        Ok(all.into_iter().filter(|o| self.can_see_org(o)).collect())
    }

    /// Every project the user can see, across organizations.
    pub async fn projects(&self, store: &SharedStore) -> StoreResult<Vec<Project>> {
        let all = store.projects_for_user(self.user.id).await?;
        Ok(all
            .into_iter()
            .filter(|p| self.can_see_project(p))
            .collect())
    }

    /// The visible projects of one organization.
    pub async fn projects_of(
        &self,
        store: &SharedStore,
        org_id: OrgId,
    ) -> StoreResult<Vec<Project>> {
        if !self.is_member_of(org_id) {
            return Ok(Vec::new());
        }
        let all = store.list_projects(Some(org_id)).await?;
        Ok(all
            .into_iter()
            .filter(|p| self.can_see_project(p))
            .collect())
    }

    /// An organization by slug, if the user belongs to it.
    pub async fn organization(
        &self,
        store: &SharedStore,
        slug: &str,
    ) -> Result<Organization, Denied> {
        match store.organization_by_slug(slug).await {
            Ok(org) if self.can_see_org(&org) => Ok(org),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(Denied::NotFound("organization")),
            Err(e) => Err(e.into()),
        }
    }

    /// A project by slugs, if the user can see it.
    pub async fn project(
        &self,
        store: &SharedStore,
        org: &str,
        slug: &str,
    ) -> Result<Project, Denied> {
        match store.project_by_slug(org, slug).await {
            Ok(p) if self.can_see_project(&p) => Ok(p),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(Denied::NotFound("project")),
            Err(e) => Err(e.into()),
        }
    }

    /// A project by id, if the user can see it.
    pub async fn project_by_id(
        &self,
        store: &SharedStore,
        id: ProjectId,
    ) -> Result<Project, Denied> {
        match store.project_by_id(id).await {
            Ok(p) if self.can_see_project(&p) => Ok(p),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(Denied::NotFound("project")),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use corral_core::model::RateLimit;

    fn user(superuser: bool) -> User {
        User {
            id: 1,
            email: "a@b.c".into(),
            name: "A".into(),
            password_hash: None,
            is_superuser: superuser,
            is_active: true,
            created_at: Utc::now(),
        }
    }

    fn project(id: ProjectId, org_id: OrgId) -> Project {
        Project {
            id,
            org_id,
            org_slug: "o".into(),
            slug: format!("p{id}"),
            name: "P".into(),
            platform: None,
            retention_days: None,
            rate_limit: RateLimit::default(),
            grouping_config: "corral:2026-11".into(),
            created_at: Utc::now(),
        }
    }

    fn access(role: Option<Role>, my_teams: &[TeamId], links: &[(ProjectId, TeamId)]) -> Access {
        let mut roles = HashMap::new();
        if let Some(r) = role {
            roles.insert(10, r);
        }
        let mut map: HashMap<ProjectId, Vec<TeamId>> = HashMap::new();
        for (p, t) in links {
            map.entry(*p).or_default().push(*t);
        }
        Access {
            user: user(false),
            roles,
            teams: my_teams.iter().copied().collect(),
            project_teams: HashMap::from([(10, map)]),
        }
    }

    #[test]
    fn members_see_their_teams_projects_and_teamless_ones() {
        let a = access(Some(Role::Member), &[7], &[(1, 7), (2, 8)]);
        assert!(a.can_see_project(&project(1, 10)), "their team's project");
        assert!(
            !a.can_see_project(&project(2, 10)),
            "another team's project"
        );
        assert!(a.can_see_project(&project(3, 10)), "a project of no team");
        assert!(!a.can_see_project(&project(4, 11)), "another organization");
    }

    #[test]
    fn admins_and_owners_see_everything_of_their_org() {
        for role in [Role::Admin, Role::Owner] {
            let a = access(Some(role), &[], &[(2, 8)]);
            assert!(a.can_see_project(&project(2, 10)));
            assert!(!a.can_see_project(&project(2, 11)));
        }
    }

    #[test]
    fn roles_decide_actions() {
        let member = access(Some(Role::Member), &[], &[]);
        assert!(member.can(Action::TriageIssues, 10));
        assert!(!member.can(Action::ManageProjects, 10));
        assert!(matches!(
            member.require(Action::ManageProjects, 10),
            Err(Denied::Forbidden)
        ));
        assert!(matches!(
            member.require(Action::TriageIssues, 11),
            Err(Denied::NotFound(_))
        ));
        let admin = access(Some(Role::Admin), &[], &[]);
        assert!(admin.can(Action::ManageProjects, 10));
        assert!(!admin.can(Action::ManageOrganization, 10));
        assert!(admin.can_grant(10, Role::Admin));
        assert!(!admin.can_grant(10, Role::Owner));
        let owner = access(Some(Role::Owner), &[], &[]);
        assert!(owner.can_grant(10, Role::Owner));
        let outsider = access(None, &[], &[]);
        assert!(!outsider.can(Action::TriageIssues, 10));
        let mut root = access(None, &[], &[]);
        root.user = user(true);
        assert!(root.can(Action::ManageOrganization, 99));
        assert!(root.can_see_project(&project(5, 99)));
    }
}
