"""The catalog's and the model registry's own tests, run a second time on the team configuration (PostgreSQL and S3:
``tests/team/conftest.py`` gives each its own database and S3 folder).

Left out: tests that reach into the data path's local files (overwriting, globbing or
placing files there), that point a second workspace at the default catalog, and the
sandbox's worker-limit tests (time, memory, crashes), which do not depend on where the
catalog lives.
"""

from __future__ import annotations

import pytest

from tests.catalog.test_access import (  # noqa: F401
    accounts,
    test_a_gated_dataset_is_read_after_a_grant_and_not_after_a_revoke,
    test_a_second_process_sees_changes,
    test_automatic_grants_and_licences,
    test_the_sandbox_has_views_only_for_what_the_reader_may_read,
    test_tokens_are_hashed_scoped_expire_and_revoke,
    test_visibility_decides_who_sees_and_reads,
)
from tests.catalog.test_integrity import (  # noqa: F401
    committed,
    test_a_version_written_as_several_files_records_each,
    test_an_empty_version_and_a_filename_column_are_recorded,
    test_versions_committed_before_checksums_are_unverified_not_failed,
)
from tests.catalog.test_sandbox import (  # noqa: F401
    sandbox,
    test_a_commit_lists_again_only_the_views_a_query_names,
    test_a_file_view_reads_exactly_what_ducklake_reads,
    test_a_latest_file_view_shows_each_new_commit,
    test_a_table_made_outside_harvest_with_an_odd_name_follows_its_commits,
    test_an_open_sandbox_reads_each_new_version,
    test_datasets_are_views_and_versions_are_reachable,
    test_new_datasets_appear_without_reopening,
    test_refused_forms_get_one_clear_sentence,
    test_versions_read_right_after_vacuum,
)
from tests.catalog.test_store import (  # noqa: F401
    test_a_version_already_looked_up_reads_its_rows_without_a_second_lookup,
    test_a_writer_killed_mid_commit_leaves_the_catalog_consistent,
    test_arrow_sql_and_staged_rows_hash_alike,
    test_bad_names_and_missing_things_are_clear_errors,
    test_datasets_lists_latest_versions_by_stage,
    test_diff_by_key_shows_added_removed_and_changed,
    test_duplicate_rows_change_the_content_hash,
    test_each_version_reads_back_its_exact_rows,
    test_listing_is_saved_and_updated_without_a_new_version,
    test_unchanged_content_makes_no_new_version,
    test_vacuum_merges_small_files_and_time_travel_still_reads_every_version,
    test_vacuum_waits_for_an_open_transaction_instead_of_taking_its_files_for_orphans,
    test_vacuum_with_no_cutoff_keeps_every_file_a_version_or_the_registry_needs,
    test_version_records_rows_schema_stats_producer_parents,
)
from tests.training.test_registry import (  # noqa: F401
    test_a_failed_catalog_write_leaves_no_version_folder,
    test_versions_count_up_and_skip_orphan_folders,
)

pytestmark = pytest.mark.team
