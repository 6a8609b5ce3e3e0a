//! Commit ranges of deployments from a configured clone.

use inquest_feeds::Repositories;
use inquest_git::{CloneSpec, GitRepositories};

use crate::support::{REPO, TestRepo, story};

fn repos(repo: &TestRepo) -> GitRepositories {
    GitRepositories::new(vec![CloneSpec { repo: REPO.into(), path: repo.path(), branch: None, fetch: false }])
}

#[test]
fn a_range_is_what_current_brings_over_previous_newest_first() {
    let repo = TestRepo::new();
    let s = story(&repo);
    let r = repos(&repo);
    let range = r.range(REPO, Some(&s.lockfile), &s.secret, 20).expect("range").expect("configured");
    assert_eq!(range.len(), 5, "{range:?}");
    assert_eq!(&range[..3], &[s.secret.clone(), s.rename.clone(), s.merge.clone()]);
    assert!(range.contains(&s.timeout) && range.contains(&s.binary));
    assert!(!range.contains(&s.lockfile));
    // Branch names work too, and the owner/name compares without case.
    let by_name = r.range("ACME/Shop", Some(&s.lockfile), "main", 20).expect("range").expect("configured");
    assert_eq!(by_name, range);
}

#[test]
fn no_previous_is_the_last_n_and_unknown_revisions_are_named() {
    let repo = TestRepo::new();
    let s = story(&repo);
    let r = repos(&repo);
    let last = r.range(REPO, None, &s.secret, 3).expect("range").expect("configured");
    assert_eq!(last, vec![s.secret.clone(), s.rename.clone(), s.merge.clone()]);
    let err = r.range(REPO, Some("0123456789012345678901234567890123456789"), &s.secret, 3).expect_err("unknown");
    assert!(err.contains("0123456789012345678901234567890123456789"), "{err}");
    let err = r.range(REPO, None, "v9.9.9", 3).expect_err("unknown");
    assert_eq!(err, "unknown revision v9.9.9");
    assert_eq!(r.range("acme/other", None, "main", 3).expect("not configured"), None);
    // `feeds.last_n_commits` wins over the caller's default.
    let r = repos(&repo).with_last_n(2);
    assert_eq!(r.range(REPO, None, "main", 20).expect("range").expect("configured").len(), 2);
}
