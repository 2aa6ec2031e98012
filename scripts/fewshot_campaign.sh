#!/usr/bin/env bash
# Few labels on data the model never saw (issue 24), on two CPU cores: every feature set on the
# four built-in activity tasks, on the same subjects and folds, with 5 and 10 labelled windows
# per class (3 draws each) and with all labels; then `relcon report` for the paired marks.
#
#   relcon tasks build --data-root ../shared/data --out runs/tasks
#   bash scripts/fewshot_campaign.sh            # TASKS=runs/tasks OUT=runs/e24 by default
#
# Feature sets: the shipped full-size model (relcon-wrist-full, "default"), the same network
# with random weights, hand-crafted features, each with the linear probe (regularisation chosen
# on validation subjects) and the nearest-centroid probe (nothing chosen: for few labels); the
# small shipped model as it is and adapted within each fold on the training subjects' unlabelled
# windows (`--adapt-steps`, its own recipe: 16 anchors per step); the shipped model's embedding
# and random weights' pooled from every stage (`--pooling stages`) with the linear probe; the
# shipped model's stage-pooled embedding and random weights' each fused with hand-crafted
# features (`--plus-handcrafted`: one probe per block, their log-probabilities summed), with the
# linear probe and with the fixed-strength one (and hand-crafted features alone with it); the
# shipped model's embedding (last stage and every stage), random weights' (every stage) and
# hand-crafted features with the fixed probe, and the same with AUGMENT augmented copies of
# every labelled window of a few-shot draw (`--few-shot-augment`, fusion included); the
# shipped model, random weights and hand-crafted features with the linear probe's
# regularisation chosen by cross-validation over the training subjects (`--val-folds`: protocol
# "linear-cv4") instead of on one validation split. The
# full-size model's own recipe (256 anchors per step) is a GPU's work: it is adapted here with
# FULL_ADAPT_BATCH anchors per step (`--adapt-batch-size`, 16: about a second per step on two
# cores; FULL_ADAPT_BATCH=0 leaves it out).
# PRECISE=1 runs only section 11's six few-label runs per task (the shipped model's stage-pooled
# embedding with the fixed probe, with and without AUGMENT copies; random weights with copies;
# hand-crafted features with the fixed probe, with and without copies, and their nearest
# centroid) with DRAWS (10) draws per k and FOLD_SEEDS (1) repetitions of the subject folds (the
# copies' embedding is most of the time: about 4 s per split and draw on two cores), and
# section 14's five: the fusion with copies at C = 1 for both blocks and with the hand-crafted
# block at HC_C (`--handcrafted-fixed-c`), random weights fused alike, and hand-crafted
# features alone at HC_C with copies and HC_C_PLAIN without; and section 15's fusion at the
# hand-crafted Cs FUSED_CS, around HC_C (TASK_NAMES="..." runs a subset).
# Every run leaves out the users either shipped model was pretrained on, so all share subjects
# and folds. A run whose results.json exists is skipped (rerun to finish an interrupted campaign).
set -uo pipefail
TASKS=${TASKS:-runs/tasks}
OUT=${OUT:-runs/e24}
ADAPT_STEPS=${ADAPT_STEPS:-200}  # ADAPT_TASKS="spsw_har5 wisdm_har6": only these adapted
FULL_ADAPT_BATCH=${FULL_ADAPT_BATCH:-16}  # anchors per step adapting the full-size model
AUGMENT=${AUGMENT:-8}  # augmented copies per labelled window in the augmented runs (0: none)
HC_C=${HC_C:-0.01}  # PRECISE: the hand-crafted probe's C with copies (fused or alone) ...
HC_C_PLAIN=${HC_C_PLAIN:-0.03}  # ... and without copies (section 13: their best on WISDM)
FUSED_CS=${FUSED_CS:-0.003 0.03}  # PRECISE: the fusion at these hand-crafted Cs too (section 15)
VAL_FOLDS=${VAL_FOLDS:-4}  # inner folds of the cross-validated choice (VAL_FOLDS=1: left out)
MATCHED=(--exclude-users-of default relcon-wrist-small --device cpu --no-progress)
COMMON=("${MATCHED[@]}" --few-shot 5 10 0 --few-shot-seeds 3)

run() {  # run NAME TASK ARGS...: one `relcon evaluate` into $OUT/TASK/NAME
  local name=$1 task=$2
  shift 2
  local out=$OUT/$task/$name
  if [ -f "$out/results.json" ]; then return; fi
  echo "== $(date -u +%H:%M:%S) $task $name (load $(cut -d' ' -f1 /proc/loadavg))"
  relcon evaluate --task "$TASKS/$task.npz" "$@" "${COMMON[@]}" --out "$out" --overwrite \
    > "$OUT/$task.$name.log" 2>&1 || echo "FAILED: $task $name (see $OUT/$task.$name.log)"
}

cross_validated() {  # cross_validated TASK: the three feature sets, the choice cross-validated
  if [ "$VAL_FOLDS" -le 1 ]; then return; fi
  local cv=(--protocol linear --val-folds "$VAL_FOLDS")
  run "shipped_linear_cv$VAL_FOLDS" "$1" --model default "${cv[@]}"
  run "random_linear_cv$VAL_FOLDS" "$1" --features random "${cv[@]}"
  run "handcrafted_linear_cv$VAL_FOLDS" "$1" --features handcrafted "${cv[@]}"
}

fused() {  # fused TASK PROTOCOL: the stage-pooled embedding plus hand-crafted features, and the
  # same with random weights (is it the pretraining or any second opinion that helps?)
  local both=(--protocol "$2" --pooling stages --plus-handcrafted)
  run "fused_$2" "$1" --model default "${both[@]}"
  run "random_fused_$2" "$1" --features random "${both[@]}"
}

augmented() {  # augmented TASK: the fixed probe's few-shot draws with AUGMENT augmented copies
  # of every labelled window (--few-shot-augment), for every feature set alike
  if [ "$AUGMENT" -le 0 ]; then return; fi
  local aug=(--protocol linear_fixed --few-shot-augment "$AUGMENT")
  run "stages_linear_fixed_aug$AUGMENT" "$1" --model default --pooling stages "${aug[@]}"
  run "random_stages_linear_fixed_aug$AUGMENT" "$1" --features random --pooling stages "${aug[@]}"
  run "handcrafted_linear_fixed_aug$AUGMENT" "$1" --features handcrafted "${aug[@]}"
  run "fused_linear_fixed_aug$AUGMENT" "$1" --model default --pooling stages --plus-handcrafted \
    "${aug[@]}"
}

precise() {  # precise TASK: section 11's few-label comparison again with DRAWS draws per k and
  # FOLD_SEEDS repetitions of the subject folds (PRECISE=1), for narrower paired intervals: the
  # runs with copies (augmented(), the fusion at C = 1 for both blocks among them), and without
  local fixed=(--protocol linear_fixed) aug=(--few-shot-augment "$AUGMENT")
  augmented "$1"
  run stages_linear_fixed "$1" --model default --pooling stages "${fixed[@]}"
  run handcrafted_linear_fixed "$1" --features handcrafted "${fixed[@]}"
  run handcrafted_nearest_centroid "$1" --features handcrafted --protocol nearest_centroid
  # section 14: the fusion with each block at its own C (the hand-crafted block at HC_C, their
  # best on WISDM with copies in section 13), against the shared C = 1, random weights fused
  # alike, and hand-crafted features alone at their WISDM C (HC_C with copies, HC_C_PLAIN without)
  local fused=(--pooling stages --plus-handcrafted) own=(--handcrafted-fixed-c "$HC_C")
  run fused_linear_fixed_hcC${HC_C}_aug$AUGMENT "$1" --model default "${fused[@]}" "${own[@]}" \
    "${fixed[@]}" "${aug[@]}"
  run random_fused_linear_fixed_hcC${HC_C}_aug$AUGMENT "$1" --features random "${fused[@]}" \
    "${own[@]}" "${fixed[@]}" "${aug[@]}"
  run handcrafted_linear_fixed_C${HC_C}_aug$AUGMENT "$1" --features handcrafted \
    --fixed-c "$HC_C" "${fixed[@]}" "${aug[@]}"
  run handcrafted_linear_fixed_C$HC_C_PLAIN "$1" --features handcrafted --fixed-c "$HC_C_PLAIN" \
    "${fixed[@]}"
  for c in $FUSED_CS; do  # section 15: the fusion's own hand-crafted C, swept around HC_C
    run fused_linear_fixed_hcC${c}_aug$AUGMENT "$1" --model default "${fused[@]}" \
      --handcrafted-fixed-c "$c" "${fixed[@]}" "${aug[@]}"
  done
}

mkdir -p "$OUT"
TASK_NAMES=(${TASK_NAMES:-spsw_har5 hapt_har6_uci hapt_har6 wisdm_har6})  # or a few of them
if [ "${PRECISE:-0}" = 1 ]; then  # only precise(): OUT=runs/e24p PRECISE=1 bash ...
  COMMON=("${MATCHED[@]}" --few-shot 5 10 --few-shot-seeds "${DRAWS:-10}" \
    --fold-seeds "${FOLD_SEEDS:-1}")
  for task in "${TASK_NAMES[@]}"; do precise "$task"; done
  ref="relcon-wrist-full (shipped, stages pooling):linear_fixed+aug$AUGMENT"
  # every run against the reference's run with the same protocol where there is one (the
  # hand-crafted fixed probe against the shipped embedding's, copies against none) ...
  relcon report "$OUT"/*/*/ --reference "$ref" --out "$OUT/report" --overwrite
  # ... and every run against the shipped embedding with copies
  relcon report $(ls -d "$OUT"/*/*/ | grep -v '/stages_linear_fixed/$') --reference "$ref" \
    --out "$OUT/report_aug" --overwrite
  exit 0
fi
ADAPT_TASKS=(${ADAPT_TASKS:-${TASK_NAMES[@]}})
for task in "${TASK_NAMES[@]}"; do
  for protocol in linear nearest_centroid; do
    run "shipped_$protocol" "$task" --model default --protocol "$protocol"
    run "random_$protocol" "$task" --features random --protocol "$protocol"
    run "handcrafted_$protocol" "$task" --features handcrafted --protocol "$protocol"
  done
  run small_linear "$task" --model relcon-wrist-small --protocol linear
  run stages_linear "$task" --model default --protocol linear --pooling stages
  run random_stages_linear "$task" --features random --protocol linear --pooling stages
  run handcrafted_linear_fixed "$task" --features handcrafted --protocol linear_fixed
  run shipped_linear_fixed "$task" --model default --protocol linear_fixed
  run stages_linear_fixed "$task" --model default --protocol linear_fixed --pooling stages
  run random_stages_linear_fixed "$task" --features random --protocol linear_fixed --pooling stages
  augmented "$task"
  for protocol in linear linear_fixed; do fused "$task" "$protocol"; done
done
for task in "${TASK_NAMES[@]}"; do cross_validated "$task"; done
# The three regressions, all labels only (the few-label target is about classes): the same
# embeddings, last stage and every stage, against random weights pooled alike.
COMMON=("${MATCHED[@]}")
for task in ipol_cadence ipol_stride_time oxford_steps; do
  run shipped_linear "$task" --model default --protocol linear
  run random_linear "$task" --features random --protocol linear
  run handcrafted_linear "$task" --features handcrafted --protocol linear
  run stages_linear "$task" --model default --protocol linear --pooling stages
  run random_stages_linear "$task" --features random --protocol linear --pooling stages
  fused "$task" linear
  cross_validated "$task"
done
COMMON=("${MATCHED[@]}" --few-shot 5 10 0 --few-shot-seeds 3)  # the adaptation: classes again
if [ "$ADAPT_STEPS" -gt 0 ]; then  # the slow part last (ADAPT_STEPS=0 leaves it out)
  for task in "${ADAPT_TASKS[@]}"; do
    run "small_adapt${ADAPT_STEPS}_linear" "$task" --model relcon-wrist-small --protocol linear \
      --adapt-steps "$ADAPT_STEPS"
    if [ "$FULL_ADAPT_BATCH" -gt 0 ]; then
      run "full_adapt${ADAPT_STEPS}x${FULL_ADAPT_BATCH}_linear" "$task" --model default \
        --protocol linear --adapt-steps "$ADAPT_STEPS" --adapt-batch-size "$FULL_ADAPT_BATCH"
    fi
  done
fi
relcon report "$OUT"/*/*/ --reference "relcon-wrist-full (shipped):linear" --out "$OUT/report" \
  --overwrite
