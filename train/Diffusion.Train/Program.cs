using Diffusion.Train.Cli;

// Ctrl+C once: finish the current step, save a resumable checkpoint and exit; twice: exit at once.
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    if (cts.IsCancellationRequested) return;
    e.Cancel = true;
    Console.Error.WriteLine("stopping after the current step (Ctrl+C again to abort)...");
    cts.Cancel();
};
return TrainCli.Run(args, cancel: cts.Token);
