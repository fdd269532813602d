"""Op families: what TensorFlow ops are, by type, in one place (every module reads them here).

Name- and structure-based judgements (is this node training? what is an output's name like?) are in
``heuristics``; the policy of which ops never run is in ``safety``.
"""

VARIABLE_OPS = {"Variable", "VariableV2", "VarHandleOp", "AutoReloadVariable", "_VarHandlesOp"}
VARIABLE_READ_OPS = {"ReadVariableOp", "ResourceGather", "VarIsInitializedOp", "IsVariableInitialized"}
STOCHASTIC_OPS = {
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "Multinomial",
    "RandomShuffle", "RandomGamma", "RandomGammaGrad", "RandomPoisson", "RandomPoissonV2",
    "RandomCrop", "ParameterizedTruncatedNormal", "StatelessRandomUniform", "StatelessRandomNormal",
    "StatelessTruncatedNormal", "StatelessRandomUniformInt", "StatelessMultinomial",
    "StatelessRandomUniformV2", "StatelessRandomNormalV2", "StatelessTruncatedNormalV2",
    "StatelessRandomUniformIntV2", "StatelessRandomUniformFullIntV2", "StatelessRandomUniformFullInt",
    "StatelessRandomGetKeyCounter", "StatelessRandomGetKeyCounterAlg", "StatelessParameterizedTruncatedNormal",
    "StatelessRandomBinomial", "StatelessRandomGammaV2", "StatelessRandomGammaV3", "StatelessRandomPoisson",
    "RngReadAndSkip", "RngSkip", "StatefulUniform", "StatefulUniformInt", "StatefulUniformFullInt",
    "StatefulStandardNormalV2", "StatefulTruncatedNormal", "StatefulRandomBinomial",
}
SUMMARY_OPS = {
    "ScalarSummary", "HistogramSummary", "ImageSummary", "AudioSummary", "AudioSummaryV2",
    "MergeSummary", "TensorSummary", "TensorSummaryV2", "WriteScalarSummary", "WriteSummary",
    "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary", "WriteGraphSummary",
    "WriteRawProtoSummary", "CreateSummaryFileWriter", "FlushSummaryWriter", "SummaryWriter",
}
SAVER_OPS = {"SaveV2", "RestoreV2", "Save", "SaveSlices", "Restore", "RestoreSlice", "MergeV2Checkpoints",
             "ShardedFilename", "ShardedFilespec"}
ASSIGN_OPS = {"Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
              "AssignSubVariableOp", "ScatterUpdate", "ScatterAdd", "ScatterSub", "ScatterNdUpdate",
              "ResourceScatterUpdate", "ResourceScatterAdd", "CountUpTo", "ResourceCountUpTo"}
LOSS_OPS = {"SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits", "InTopK", "InTopKV2",
            "SigmoidCrossEntropyWithLogits", "CTCLoss", "CTCLossV2"}
GRADIENT_OPS = {"BroadcastGradientArgs", "PreventGradient", "ReluGrad", "Relu6Grad", "EluGrad", "SeluGrad",
                "SoftplusGrad", "SoftsignGrad", "SigmoidGrad", "TanhGrad", "BiasAddGrad", "BiasAddGradV1",
                "Conv2DBackpropFilter", "DepthwiseConv2dNativeBackpropFilter", "Conv3DBackpropFilterV2",
                "MaxPoolGrad", "MaxPoolGradV2", "AvgPoolGrad", "FusedBatchNormGrad", "FusedBatchNormGradV2",
                "FusedBatchNormGradV3", "LRNGrad", "RsqrtGrad", "SqrtGrad", "ReciprocalGrad", "InvGrad",
                "LeakyReluGrad", "SymbolicGradient", "UnsortedSegmentSum_grad"}
DEBUG_OPS = {"Assert", "CheckNumerics", "CheckNumericsV2", "Print", "PrintV2", "DebugIdentity",
             "DebugNanCount", "DebugNumericSummary", "DebugIdentityV2"}
QUANTIZE_LEFTOVER_OPS = {"Dequantize", "QuantizeV2", "QuantizedConv2D", "QuantizedMatMul", "QuantizedRelu",
                         "QuantizedBiasAdd", "RequantizationRange", "Requantize", "QuantizeDownAndShrinkRange",
                         "QuantizedReshape", "QuantizedAvgPool", "QuantizedMaxPool", "QuantizedConcat"}
# Loss and metric ops -> the input positions that take labels (targets).
LABEL_ARGS = {"SoftmaxCrossEntropyWithLogits": (1,), "SparseSoftmaxCrossEntropyWithLogits": (1,),
              "InTopK": (1,), "InTopKV2": (1,), "CTCLoss": (1, 2), "CTCLossV2": (1, 2)}
# What a label passes through on its way there.
LABEL_PLUMBING = {"Cast", "Reshape", "Identity", "ExpandDims", "Squeeze", "StopGradient", "ToInt32", "ToInt64",
                  "ToFloat", "Snapshot", "ArgMax", "ArgMin", "StridedSlice", "Transpose"}
PROBABILITY_PLUMBING = {"Identity", "Cast", "Enter", "Reshape", "Snapshot", "PlaceholderWithDefault", "Switch"}
INT_TYPES = {3, 4, 5, 6, 9, 10, 17, 22, 23}  # DT_INT32, UINT8, INT16, INT8, INT64, BOOL, UINT16, UINT32, UINT64
# Ops that turn a model's float output into pixels or class ids (scale, clip, squeeze, round, argmax).
POST_PROCESSING = {"Cast", "StridedSlice", "Squeeze", "Reshape", "Identity", "Mul", "Round", "ClipByValue",
                   "Minimum", "Maximum", "ArgMax", "Softmax", "Add", "AddV2"}
# Ops that bring data into a training graph: the model starts where their outputs are read.
INPUT_PIPELINE_OPS = {
    "IteratorGetNext", "IteratorGetNextSync", "QueueDequeue", "QueueDequeueV2", "QueueDequeueMany",
    "QueueDequeueManyV2", "QueueDequeueUpTo", "QueueDequeueUpToV2", "ReaderRead", "ReaderReadV2", "ReaderReadUpTo",
    "ReaderReadUpToV2", "DecodeJpeg", "DecodePng", "DecodeBmp", "DecodeGif", "DecodeImage", "DecodeAndCropJpeg",
    "DecodeRaw", "DecodeWav", "DecodeCSV", "ParseExample", "ParseExampleV2", "ParseSingleExample",
    "ParseSequenceExample", "ParseSequenceExampleV2", "ParseSingleSequenceExample", "DecodeBase64",
}
# Ops that only act (feed a queue, start an iterator, write a file): no value an app fetches.
EFFECT_OPS = {"QueueEnqueue", "QueueEnqueueV2", "QueueEnqueueMany", "QueueEnqueueManyV2", "QueueClose",
              "QueueCloseV2", "QueueSize", "QueueSizeV2", "MakeIterator", "IteratorToStringHandle", "WriteFile",
              "DeleteIterator", "AnonymousIteratorV2", "IteratorV2", "Iterator", "OneShotIterator",
              "TensorArrayCloseV3", "StackPushV2", "StackCloseV2", "Stage", "Unstage", "MapStage", "FIFOQueueV2",
              "RandomShuffleQueueV2", "PaddingFIFOQueueV2", "PriorityQueueV2", "FIFOQueue", "RandomShuffleQueue"}
# Ops whose data input must have this rank, and elementwise ops an input reaches them through.
OP_RANK = {"Conv2D": 4, "DepthwiseConv2dNative": 4, "MaxPool": 4, "AvgPool": 4, "FusedBatchNorm": 4,
           "FusedBatchNormV2": 4, "FusedBatchNormV3": 4, "ResizeBilinear": 4, "ResizeNearestNeighbor": 4,
           "SpaceToDepth": 4, "DepthToSpace": 4, "Conv3D": 5, "MaxPool3D": 5, "AvgPool3D": 5, "MatMul": 2}
RANK_PRESERVING_OPS = {"Identity", "Cast", "Mul", "Sub", "Add", "AddV2", "RealDiv", "Maximum", "Minimum", "Relu",
                       "Relu6", "Snapshot", "StopGradient"}
# Ops whose output holds each sample's values where its input did (elementwise, dropout's Select):
# a Reshape met through them sees the input's per-sample size.
PER_ELEMENT_OPS = RANK_PRESERVING_OPS | {
    "Select", "SelectV2", "Floor", "Tanh", "Sigmoid", "Neg", "Square", "Exp", "Log", "Abs", "Sqrt", "Rsqrt",
    "BiasAdd", "Elu", "Selu", "LeakyRelu", "Softplus", "Sign", "Round", "ClipByValue", "Pow", "SquaredDifference",
    "Div", "Reciprocal", "Relu6", "Softsign", "Erf", "Enter"}
GATHER_OPS = {"Gather", "GatherV2", "ResourceGather", "GatherNd"}
# Ops whose output holds the same integer values as their first input (ids on their way to a Gather).
ID_PRESERVING_OPS = {"Identity", "Cast", "Reshape", "ExpandDims", "Squeeze", "Transpose", "StridedSlice", "Slice",
                     "Split", "SplitV", "Unpack", "Pack", "ConcatV2", "Concat", "ReverseV2", "ReverseSequence",
                     "Tile", "Enter", "TensorArrayScatterV3", "TensorArrayReadV3", "TensorArrayGatherV3",
                     "Switch", "Merge", "Snapshot", "StopGradient"}
NON_OUTPUT_OPS = VARIABLE_OPS | VARIABLE_READ_OPS | {"Const", "Placeholder", "PlaceholderWithDefault",
                                                     "PlaceholderV2", "NoOp"} | DEBUG_OPS | ASSIGN_OPS | EFFECT_OPS
# Ops that pass labels along on their way to a loss or metric (no model computation).
LIGHT_OPS = {"Cast", "Reshape", "Identity", "ExpandDims", "Squeeze", "OneHot", "ArgMax", "ArgMin", "Equal",
             "NotEqual", "Shape", "Size", "Rank", "StopGradient", "ToInt32", "ToInt64", "Fill", "Mean", "Sum",
             "Less", "Greater", "Transpose", "Pack", "ConcatV2", "StridedSlice", "Slice", "Tile", "Const"}
# TensorFlow ops the TFLite converter turns into builtins (or folds away). Anything else needs
# --select-tf-ops (the Flex delegate) or --allow-custom-ops.
TFLITE_CONVERTIBLE = {
    "Abs", "Add", "AddN", "AddV2", "ArgMax", "ArgMin", "Atan2", "AvgPool", "AvgPool3D", "BatchMatMul",
    "BatchMatMulV2", "BatchMatMulV3", "BatchToSpaceND", "BiasAdd", "BroadcastArgs", "BroadcastTo", "Bucketize",
    "Cast", "Ceil", "Concat", "ConcatV2", "Const", "Conv2D", "Conv2DBackpropInput", "Conv3D", "Cos", "Cumsum",
    "DepthToSpace", "DepthwiseConv2dNative", "Dequantize", "Div", "DivNoNan", "Einsum", "Elu", "Equal", "Erf",
    "Exp", "ExpandDims", "FakeQuantWithMinMaxArgs", "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel",
    "Fill", "Floor", "FloorDiv", "FloorMod", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Gather",
    "GatherNd", "GatherV2", "Greater", "GreaterEqual", "HardSwish", "Identity", "IdentityN", "If", "LRN",
    "LeakyRelu", "Less", "LessEqual", "Log", "LogSoftmax", "LogicalAnd", "LogicalNot", "LogicalOr", "MatMul",
    "MatrixBandPart", "MatrixDiag", "MatrixDiagV3", "MatrixSetDiag", "Max", "MaxPool", "MaxPool3D", "MaxPoolV2",
    "Maximum", "Mean", "Min", "Minimum", "MirrorPad", "Mul", "Multinomial", "Neg", "NoOp", "NotEqual", "OneHot",
    "OnesLike", "Pack", "Pad", "PadV2", "PartitionedCall", "Placeholder", "PlaceholderWithDefault", "Pow", "Prod",
    "RandomStandardNormal", "RandomUniform", "Range", "Rank", "RealDiv", "Reciprocal", "Relu", "Relu6",
    "Reshape", "ResizeBilinear", "ResizeNearestNeighbor", "ReverseSequence", "ReverseV2", "Round", "Rsqrt",
    "ScatterNd", "Select", "SelectV2", "Selu", "Shape", "Sigmoid", "Sign", "Sin", "Size", "Slice", "Snapshot", "Softmax",
    "Softplus", "SpaceToBatchND", "SpaceToDepth", "Split", "SplitV", "Sqrt", "Square", "SquaredDifference",
    "Squeeze", "StatefulPartitionedCall", "StatelessIf", "StatelessWhile", "StopGradient", "StridedSlice", "Sub",
    "Sum", "Tanh", "Tile", "TopKV2", "Transpose", "Unique", "Unpack", "Where", "While", "ZerosLike",
    # v1 control flow is lowered by the converter
    "Enter", "Exit", "LoopCond", "Merge", "NextIteration", "Switch",
}

# v1 loops and the TensorArrays dynamic_rnn threads through them (graphtools.conversion.loops lowers them)
TENSOR_ARRAY_OPS = {"TensorArrayV3", "TensorArrayScatterV3", "TensorArrayReadV3", "TensorArrayWriteV3",
                    "TensorArrayGatherV3", "TensorArraySizeV3", "TensorArrayCloseV3", "TensorArrayConcatV3",
                    "TensorArraySplitV3", "TensorArrayGradV3"}
LOOP_OPS = {"Enter", "Merge", "Switch", "Exit", "NextIteration", "LoopCond"}
PLACEHOLDER_OPS = {"Placeholder", "PlaceholderV2", "PlaceholderWithDefault"}
# the saver ops that read or write checkpoint files (a subset of SAVER_OPS, which adds its filename ops)
CHECKPOINT_FILE_OPS = {"Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints"}


# TF ops the converter keeps as custom ops that LiteRT's built-in op resolver registers (no extra library)
RUNTIME_CUSTOM_OPS = {"AudioSpectrogram", "Mfcc", "TFLite_Detection_PostProcess"}

WHILE_OPS = {"While", "StatelessWhile"}  # functional loops (their body is a library function)
DT_VARIANT = 21  # the dtype of TensorLists and other handles


def list_loops(graph_def):
    """The While nodes of ``graph_def`` that carry TensorLists (names)."""
    return [n.name for n in graph_def.node if n.op in WHILE_OPS and DT_VARIANT in n.attr["T"].list.type]
