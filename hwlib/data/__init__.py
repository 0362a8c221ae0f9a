"""The data layer: the course's tasks read from the public releases (``get_dataset``), where the files come from
(``sources``), how they are read (``readers``), their statistics (``stats``). Imports nothing else of hwlib but
``hwlib.files``."""
from hwlib.data.sources import (  # noqa: F401
    DataError, SourceFile, SOURCES, md5, modified_data_allowed, cache_dir, download, data_file
)
from hwlib.data.readers import (  # noqa: F401
    ACL_LABELS, POLARITY_LABELS, AGNEWS_LABELS, read_acl, read_semeval, read_agnews
)
from hwlib.data.tasks import (  # noqa: F401
    AGNEWS_SPLIT_SEED, AGNEWS_DEV_SEED, FEW_SHOT_PER_LABEL, FEW_SHOT_SEED, TASKS, DATASET_NAMES, task_files,
    fingerprint, task_file_names, column, few_shot, parse_names, get_dataset, TASK_TITLES, title
)
