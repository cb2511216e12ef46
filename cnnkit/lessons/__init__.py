"""cnnkit.lessons: the course's experiments as data, run as one job group, ours beside the report's.

A lesson is one TOML file (cnnkit/lessons/course/*.toml; a teacher's own in <data dir>/lessons/): the question,
its arms (TrainConfigs or resolution labs), the report's figures and what to look at. loader.py holds the format,
runner.py running and collecting, verdict.py whether ours reproduces the report's direction, results.py the saved and shipped results (lab kind "lesson"), predictions.py
the predict-first store. docs/lessons.md explains the format for teachers.
"""

from cnnkit.lessons.loader import (COURSE_DIR, MAX_ARMS, MAX_EPOCHS, MAX_FILE_BYTES, get_lesson, lesson_file_errors,
                                   lessons_by_topic, list_lessons, load_lesson_file, parse_lesson,
                                   teacher_lessons_dir)
from cnnkit.lessons.predictions import (erase_predictions, prediction_outcomes, predictions, predictions_of,
                                        record_prediction)
from cnnkit.lessons.results import (ArmResult, LessonResult, aggregate_arm, arithmetic_note, backbone_note, comparison_rows, curve_notes,
                                    curve_rows, damaged_results,
                                    latest_result, metric_summary, saved_results, ship_result, shipped_result)
from cnnkit.lessons.runner import (CPU_SEEDS, GPU_SEEDS, STATUSES, LessonEstimate, cancel_lesson, collect_finished,
                                   collect_result, data_caveats, default_seeds, estimate_lesson_seconds, group_jobs,
                                   lesson_jobs,
                                   lesson_status, lesson_statuses, planned_configs, run_lesson, running_groups,
                                   submit_lesson)
from cnnkit.lessons.resume import go_on_with_group, planned_run_finished, stopped_groups
from cnnkit.lessons.verdict import ArmVerdict, LessonVerdict, arm_verdicts, index_verdict, lesson_verdict
from cnnkit.lessons.schema import (ARM_KINDS, COMPARED_METRICS, CURVE_NAMES, MODES, TOPICS, Lesson, LessonArm,
                                   LessonFileError, ReportedFigures)

__all__ = ["ARM_KINDS", "ArmResult", "ArmVerdict", "LessonVerdict", "arm_verdicts", "index_verdict", "lesson_verdict", "COMPARED_METRICS", "COURSE_DIR", "CPU_SEEDS", "CURVE_NAMES", "GPU_SEEDS",
           "Lesson", "LessonArm", "LessonEstimate", "LessonFileError", "LessonResult", "MAX_ARMS", "MAX_EPOCHS",
           "MAX_FILE_BYTES", "MODES", "ReportedFigures", "STATUSES", "TOPICS", "aggregate_arm", "arithmetic_note", "backbone_note", "cancel_lesson",
           "collect_finished", "collect_result", "comparison_rows", "curve_notes", "curve_rows", "damaged_results", "data_caveats",
           "default_seeds",
           "erase_predictions", "estimate_lesson_seconds", "get_lesson", "go_on_with_group", "group_jobs", "latest_result",
           "lesson_file_errors", "lesson_jobs", "lesson_status", "lesson_statuses", "lessons_by_topic",
           "list_lessons", "load_lesson_file", "metric_summary", "parse_lesson", "planned_configs", "planned_run_finished",
           "prediction_outcomes", "predictions", "predictions_of", "record_prediction", "run_lesson",
           "running_groups", "saved_results", "ship_result", "shipped_result", "stopped_groups", "submit_lesson",
           "teacher_lessons_dir"]
