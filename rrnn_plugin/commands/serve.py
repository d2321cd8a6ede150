"""`allennlp rrnn-serve ARCHIVE`: a local web page showing the model's label, probabilities and,
per WFSA, the phrase it matched (rrnn_plugin/serve/).

    allennlp rrnn-serve runs/demo-kitchen/model.tar.gz                 # http://127.0.0.1:8000/
    allennlp rrnn-serve ARCHIVE --port 8080 --phrases phrases.json      # + each WFSA's top phrases
"""
import argparse

from allennlp.commands.subcommand import Subcommand

_DESCRIPTION = "Serve a page (and a JSON API) that explains a trained model's predictions, on this machine."


@Subcommand.register("rrnn-serve", exist_ok=True)
class ServeCommand(Subcommand):
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=_DESCRIPTION, help=_DESCRIPTION)
        subparser.add_argument("archive", help="a model.tar.gz with a one-layer rational_rnn encoder")
        subparser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
        subparser.add_argument("--port", type=int, default=8000)
        subparser.add_argument("--phrases", default=None,
                               help="top phrases per WFSA: the output of `allennlp rrnn-visualize ... --format json`")
        subparser.add_argument("--max-chars", type=int, default=20000, help="longest text accepted (413 beyond)")
        subparser.set_defaults(func=_run)
        return subparser


def _run(args: argparse.Namespace) -> None:
    from rrnn_plugin.serve import Explainer, make_server
    from rrnn_plugin.serve.server import address

    from rrnn_plugin.archives import ArchiveError

    try:
        explainer = Explainer(args.archive, args.phrases)
    except ArchiveError as error:
        raise SystemExit(f"rrnn-serve: error: {error}") from None
    server = make_server(explainer, args.host, args.port, args.max_chars)
    host, port = address(server)
    print(f"rrnn-serve: http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
