return Diffusion.Export.ExportCli.Run(args);
