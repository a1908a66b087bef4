using System.CommandLine;
using ParNet.Data;
using ParNet.Distributed;
using ParNet.Models;
using ParNet.Training;

namespace ParNet.Cli;

/// <summary>`parnet train --resume RUN`: the run's own recipe, model and run.json, the options given again over them, and
/// the refusals and warnings of options a resumed run cannot honour, or honours only in part.</summary>
public sealed partial class TrainCommand
{
    /// <summary>A resumed run's recipe (its checkpoint's, with the options that override it), model and run.json (null, with a
    /// warning, for a run folder without one).</summary>
    (Recipe, ModelConfig?, RunSettings?) Resumed(ParseResult parse, TextWriter stderr, string resumeDir, IProcessGroup group)
    {
        string last = Checkpoint.In(resumeDir);
        if (Checkpoint.Locate(last) is null)
            throw new UsageException($"--resume {resumeDir}: no checkpoints/last there");
        var state = Checkpoint.ReadState(last);
        if (parse.Given(_recipe) || _model.Given(parse))
            throw new UsageException("--resume continues the run's own recipe and model; do not pass --recipe/--model/--config/--width");
        if (parse.GetValue(_out) is { } other)   // it trained on in the resumed folder, and --out was never made (concurrency audit, session 38)
            throw new UsageException($"--out {other} with --resume: a resumed run goes on in its own folder ({resumeDir}); to branch it, " +
                                     "copy that folder and resume the copy");
        var saved = RunSettings.Load(resumeDir);
        if (saved is null && group.Rank == 0)
            stderr.WriteLine($"parnet train: warning: {Path.Combine(resumeDir, RunSettings.FileName)} is missing: the run continues on the data, " +
                             "classes and subsets given now (default: all of the recipe's data set), not necessarily those it started with");
        var recipe = _recipeOptions.Apply(parse, state.Recipe);
        // the run's model keeps the dropouts its recipe gave it when it was built: given now, they went into recipe.json and
        // into nothing that trained (a resume audit of session 44)
        var (head, block) = (recipe.HeadDropout ?? state.Model.HeadDropout, recipe.BlockDropout ?? state.Model.BlockDropout);
        if (head != state.Model.HeadDropout || block != state.Model.BlockDropout)
        {
            string given = head != state.Model.HeadDropout ? $"--head-dropout {head}" : $"--block-dropout {block}";
            throw new UsageException($"{given} with --resume: the run's model (model.json) has head dropout {state.Model.HeadDropout} and " +
                                     $"block dropout {state.Model.BlockDropout}, which a resumed run keeps; to train with others, start a new run");
        }
        // the seed draws the --subset images and every epoch's order and augmentation: a resumed run under another trained its
        // remaining epochs on other images, and its recipe.json then named the new seed for the whole run (reproducibility audit, session 42)
        if (recipe.Seed != state.Recipe.Seed)
            throw new UsageException($"--seed {recipe.Seed} with --resume: the run trains with seed {state.Recipe.Seed} (it draws the subset's images " +
                                     $"and every epoch's order and augmentation); to train under seed {recipe.Seed}, start a new run (--seed {recipe.Seed} --out OTHER)");
        // other images in the middle of an epoch: its batches so far followed the run's order of its images, the rest follow the
        // new data's, so some images of the epoch train twice and some not at all (a resume audit of session 44)
        // (other --classes are refused in Resolve; the same subset or folder given again changes nothing)
        string? dataGiven = parse.GetValue(_subset) is int sub && sub != saved?.SubsetPerClass ? $"--subset {sub}"
            : parse.GetValue(_data) is { } folder && Path.GetFullPath(folder) != saved?.DataDirectory ? $"--data {ShellWords.Quote(folder)}" : null;
        if (dataGiven is not null && state.BatchInEpoch > 0 && !state.EvaluationPending && group.Rank == 0)
            stderr.WriteLine($"parnet train: warning: {dataGiven} with --resume in the middle of epoch {state.Epoch + 1} (after its batch {state.BatchInEpoch}): " +
                             "the rest of the epoch follows the order of the data given now, so some of its images train twice and some not at all");
        // what a resume honours "from here" is not said where nothing trains from here: a finished run is left as it was (review of session 46)
        bool trainsOn = !Trainer.TrainsNothing(state, recipe.Epochs, parse.GetValue(_scheduleBudget) is double minutes ? TimeSpan.FromMinutes(minutes) : null);
        // another side trains on (progressive resizing is a use), but the checkpoints' "best" then compares test accuracies
        // taken at two sides without a word (cross-command audit, session 43)
        if (trainsOn && recipe.ImageSize != state.Recipe.ImageSize && DataPipelines.IsFolderLayout(saved?.Dataset ?? recipe.Dataset) && group.Rank == 0)
            stderr.WriteLine($"parnet train: warning: --image-size {recipe.ImageSize} with --resume: the run trained and tested at {state.Recipe.ImageSize} px so far; " +
                             $"its epochs from here do at {recipe.ImageSize}, and its best checkpoint is chosen among test accuracies of both sides");
        // another test set: the best checkpoint so far was chosen on the run's, and from here accuracies on the new one
        // compete with those (a left item of session 44)
        if (trainsOn && parse.GetValue(_testSubset) is int testPerClass && saved is not null && testPerClass != saved.TestSubsetPerClass && state.BestAccuracy >= 0 && group.Rank == 0)
            stderr.WriteLine($"parnet train: warning: --test-subset {testPerClass} with --resume: the run tested on " +
                             $"{(saved.TestSubsetPerClass is int before ? $"{before} image{(before == 1 ? "" : "s")} per class" : "all its test images")} so far; its epochs from here " +
                             $"test on {testPerClass} per class, and its best checkpoint is chosen among accuracies on both");
        // another precision trains on (the optimizer keeps float32 master weights either way), but the run's weights then come
        // of both, which its header and run.json no longer say (a left item of session 45)
        if (trainsOn && parse.Given(_bf16) && saved is not null && parse.GetValue(_bf16) != saved.BFloat16 && group.Rank == 0)
            stderr.WriteLine(saved.BFloat16
                ? "parnet train: warning: --bf16 false with --resume: the run trained in bfloat16 so far; its epochs from here train in float32"
                : "parnet train: warning: --bf16 with --resume: the run trained in float32 so far; its epochs from here train in bfloat16 " +
                  "(BatchNorm and the optimizer's master weights in float32), so its weights come of both precisions");
        return (recipe, state.Model, saved);
    }

    /// <summary>A resumed run trains on its own data set and classes: others were refused later in words that named no fix, or
    /// sent the user to --data for a data set the run never had (a resume audit of session 44).</summary>
    void RequireSameData(ParseResult parse, string resumeDir, RunSettings saved, int[]? classes)
    {
        if (parse.GetValue(_dataset) is { } otherSet && otherSet != saved.Dataset)
            throw new UsageException($"--dataset {otherSet} with --resume: the run trains on {saved.Dataset} (run.json), which a resume keeps; " +
                                     $"to train on {otherSet} from its weights, start a new run with --pretrained {ShellWords.Quote(Path.Combine(resumeDir, "checkpoints", "last", Checkpoint.WeightsFile))}");
        if (parse.GetValue(_classes) is { } otherIds && (saved.Classes is null || !classes!.SequenceEqual(saved.Classes)))
            throw new UsageException($"--classes {otherIds} with --resume: the run trains on " +
                                     $"{(saved.Classes is { } kept ? $"classes {string.Join(",", kept)}" : "every class")} (run.json), which a resume keeps; leave --classes out");
    }
}
