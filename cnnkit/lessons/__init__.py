"""cnnkit.lessons: the course's experiments as data, run as one job group, ours beside the report's.

A lesson is one TOML file (cnnkit/lessons/course/*.toml; a teacher's own in <data dir>/lessons/): the question,
its arms (TrainConfigs or resolution labs), the report's figures and what to look at. See loader.py for the
format, runner.py for running and collecting, results.py for the saved results (lab kind "lesson").
"""

from cnnkit.lessons.loader import (COURSE_DIR, MAX_ARMS, MAX_EPOCHS, MAX_FILE_BYTES, get_lesson, lesson_file_errors,
                                   list_lessons, load_lesson_file, parse_lesson, teacher_lessons_dir)
from cnnkit.lessons.schema import (ARM_KINDS, COMPARED_METRICS, CURVE_NAMES, MODES, TOPICS, Lesson, LessonArm,
                                   LessonFileError, ReportedFigures)

__all__ = ["ARM_KINDS", "COMPARED_METRICS", "COURSE_DIR", "CURVE_NAMES", "Lesson", "LessonArm", "LessonFileError",
           "MAX_ARMS", "MAX_EPOCHS", "MAX_FILE_BYTES", "MODES", "ReportedFigures", "TOPICS", "get_lesson",
           "lesson_file_errors", "list_lessons", "load_lesson_file", "parse_lesson", "teacher_lessons_dir"]
