"""Whether the wiki's search index INDEX holds exactly the revisions of its data DATA.

    /opt/moin/bin/python3 index-matches-data.py INDEX DATA   (moin's Python: whoosh is there)

Exit status 0 when every revision in DATA (one file per revision under NAMESPACE/meta/, named by
its revision id) is in the index of all revisions and nothing else is; 1 otherwise, with the
difference on standard error. after-restore keeps a restored index only then: a backup made while
the wiki was being edited may hold a revision in one and not in the other.
"""

import os
import sys

from whoosh.fields import ID, Schema
from whoosh.index import EmptyIndexError, open_dir

# The one field asked. Given to open_dir, it stands for the schema pickled in the index, which is
# then never loaded: that pickle names moin's own classes, whose import alone took twice as long
# as the whole check.
REVID = Schema(revid=ID(stored=True))


def main(index, data):
    try:
        opened = open_dir(index, indexname="all_revs", schema=REVID) if os.path.isdir(index) else None
    except EmptyIndexError:
        opened = None
    if opened is None:
        print(f"index-matches-data: no index of all revisions in {index}", file=sys.stderr)
        return 1
    with opened.searcher() as searcher:
        if searcher.reader().has_deletions():
            # The terms of a deleted document stay until its segment is merged: ask the documents.
            indexed = {fields.get("revid") for fields in searcher.all_stored_fields()}
        else:
            # Every revid term is a document's: the term list alone, no stored fields unpickled.
            indexed = {term.decode("utf-8") for term in searcher.lexicon("revid")}
    stored = set()
    for namespace in os.listdir(data):
        meta = os.path.join(data, namespace, "meta")
        if os.path.isdir(meta):
            stored.update(name for name in os.listdir(meta) if not name.startswith("."))
    if indexed != stored:
        print(
            f"index-matches-data: {len(stored - indexed)} revisions of {data} are not in the index, "
            f"{len(indexed - stored)} indexed revisions are not in the data",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
